// Picks the model backend named by the config.
import type { ModelConfig } from '../config.ts';
import type { Model } from './model.ts';
import { SimulatedModel } from './simulated.ts';

export type { Model, InferenceResult } from './model.ts';

export function createModel(config: ModelConfig): Model {
  switch (config.backend) {
    case 'simulated':
      return new SimulatedModel(config);
  }
}
