import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

// The OpenAPI document is generated from the routes' own TypeBox schemas, so the
// documentation cannot drift from what the serializer enforces.
export default fp(async function docs (fastify) {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'web',
        description: 'Status, PostgreSQL and Redis round trips of the web/db/cache stack. Every error has the shape {"status":"erro","erro":"…"}.',
        version: '1.0.0'
      }
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })

  fastify.get('/openapi.json', { schema: { hide: true }, exposeHeadRoute: true }, async () => fastify.swagger())
}, { name: 'docs', dependencies: ['errors'] })
