import { Type, type Static } from '@sinclair/typebox'

/** The one shape of every error the service returns (contract, "Errors"). */
export const ErrorBody = Type.Object({
  status: Type.Literal('erro'),
  erro: Type.String()
}, { additionalProperties: false })

export function errorBody (erro: string): Static<typeof ErrorBody> {
  return { status: 'erro', erro }
}

/** Statuses any route can answer whatever its handler does: bad requests and bugs. */
export const commonErrorResponses = {
  '4xx': ErrorBody,
  500: ErrorBody
}

/** UTC, to the second, no offset; the example stops Swagger UI inventing one from the pattern. */
export const Timestamp = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}$', examples: ['2025-11-19T21:30:00'] })
