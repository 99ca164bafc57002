// Lint: type-aware rules, plus the project's two structural rules: imports in src/ run one way
// through the layers (lint/layers.js), and work that outlives the call (worker threads, detached
// promises) starts only through src/task.ts, which counts panics.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import layers from './lint/layers.js';

const workerImports = {
  paths: [
    { name: 'worker_threads', message: 'Start workers through createWorkerPool in src/task.ts.' },
    { name: 'node:worker_threads', message: 'Start workers through createWorkerPool in src/task.ts.' },
    { name: 'child_process', message: 'Spawning processes is not part of the service.' },
    { name: 'node:child_process', message: 'Spawning processes is not part of the service.' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'test-artifacts/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `void promise` would be a detached promise outside the task wrapper: not allowed.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', workerImports],
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Worker']", message: 'Start workers through createWorkerPool in src/task.ts.' },
      ],
    },
  },
  {
    files: ['src/**/*.ts', 'src/**/*.js'],
    plugins: { layers },
    rules: { 'layers/direction': 'error' },
  },
  {
    // The task wrapper is the one place allowed to start workers.
    files: ['src/task.ts', 'src/task-pool.ts', 'src/task-worker.ts'],
    rules: { 'no-restricted-imports': 'off', 'no-restricted-syntax': 'off' },
  },
  {
    // Tests, the client and benchmarks drive the service from outside: child processes are fine there.
    files: ['test/**', 'src/client/**', 'bench/**'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-floating-promises': [
        'error',
        { ignoreVoid: true, allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] },
      ],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['eslint.config.js', 'lint/**'], ...tseslint.configs.disableTypeChecked },
  {
    // The live page's browser scripts (served as they are, outside the TypeScript project): plain JS rules.
    files: ['src/api/page/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'AbortController',
          'AudioContext',
          'AudioWorkletNode',
          'WebSocket',
          'URLSearchParams',
          'clearTimeout',
          'document',
          'fetch',
          'location',
          'navigator',
          'setInterval',
          'setTimeout',
          'AudioWorkletProcessor',
          'registerProcessor',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
