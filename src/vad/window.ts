// The shapes Silero VAD v5 works in at 16 kHz, shared by the stage and its worker.

export const VAD_WINDOW = 512;
/** Samples of the previous window the model sees in front of each window. */
export const VAD_CONTEXT = 64;
/** Per layer; a model run's state tensor is [2, B, 128]. */
export const VAD_STATE = 128;
