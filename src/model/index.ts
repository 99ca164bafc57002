// Picks the model backend named by the config.
import type { ModelConfig } from '../config.ts';
import type { ServiceContext } from '../context.ts';
import type { Model } from './model.ts';
import { KeywordsModel } from './keywords/model.ts';
import { SimulatedModel } from './simulated.ts';
import { WhisperModel } from './whisper/model.ts';

export type { Inference, Model, ModelChannel, InferenceResult, ModelOutput } from './model.ts';

/** The backend named by the config, loaded (model files read, sessions created). */
export async function loadModel(config: ModelConfig, service: ServiceContext): Promise<Model> {
  switch (config.backend) {
    case 'simulated':
      return new SimulatedModel(config, service);
    case 'whisper':
      return WhisperModel.load(config, service);
    case 'keywords':
      return KeywordsModel.load(config, service);
  }
}
