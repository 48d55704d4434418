import t from 'tap'
import { Validator } from '@seriousme/openapi-schema-validator'
import { buildTestApp } from '../helpers/app.js'
import { endpoints, probes } from '../helpers/endpoints.js'

const documented = Object.fromEntries([...endpoints, ...probes].map(({ url, schema }) => [url, schema]))

// TypeBox marks schemas with symbol keys, which JSON drops; OpenAPI 3.0 has no
// `const`, so @fastify/swagger writes the equivalent one-value `enum`.
const asOpenApi = (schema: unknown) => JSON.parse(JSON.stringify(schema), (_key, value) => {
  if (value === null || typeof value !== 'object') return value
  if ('const' in value) {
    const { const: only, ...rest } = value
    return { ...rest, enum: [only] }
  }
  // Nor `examples`: @fastify/swagger writes 3.0's single `example`.
  if ('examples' in value) {
    const { examples: [first], ...rest } = value
    return { ...rest, example: first }
  }
  return value
})

t.test('/openapi.json is a valid OpenAPI 3 document', async (t) => {
  const { app } = await buildTestApp(t)
  const response = await app.inject('/openapi.json')
  t.equal(response.statusCode, 200)
  const result = await new Validator().validate(response.json())
  t.same(result.errors, undefined, 'the validator finds no error')
  t.equal(result.valid, true)
})

t.test('/openapi.json documents each endpoint, each status, with the route\'s own schema', async (t) => {
  const { app } = await buildTestApp(t)
  const { paths } = (await app.inject('/openapi.json')).json()
  t.same(Object.keys(paths).sort(), Object.keys(documented).sort(), 'exactly the public endpoints')
  for (const [path, schema] of Object.entries(documented)) {
    const responses = paths[path].get.responses
    const statuses = Object.keys(schema.response).map((status) => status.toUpperCase())
    t.same(Object.keys(responses).sort(), statuses.sort(), `${path}: every status it can answer`)
    for (const [status, body] of Object.entries(schema.response)) {
      t.same(responses[status.toUpperCase()].content['application/json'].schema, asOpenApi(body), `${path} ${status}: the route's schema`)
    }
  }
})

t.test('/docs serves Swagger UI', async (t) => {
  const { app } = await buildTestApp(t)
  const response = await app.inject('/docs/')
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/html/)
  t.match(response.body, /swagger-ui/i)
})
