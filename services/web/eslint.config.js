import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', '.tap/**'] }),
  {
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: [{
          name: '@fastify/type-provider-typebox',
          allowTypeImports: true,
          // Its runtime also loads TypeBox's compiler and value modules, which the
          // service never uses, at every start.
          message: 'Import Type from @sinclair/typebox; take only types from the provider (import type).'
        }]
      }]
    }
  }
]
