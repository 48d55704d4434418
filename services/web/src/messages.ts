// Every `erro` text the service answers: part of the contract, change them only with it.

/** `servicos.<dependency>.erro` on `GET /` when that dependency's ping fails. */
export const statusPingFailed = {
  database: 'Não foi possível conectar ao PostgreSQL',
  cache: 'Não foi possível conectar ao Redis'
} as const

/** The 503 of `/db/test` and `/cache/test`, and a failed operation of `/integracao`. */
export const dependencyFailed = {
  database: 'Não foi possível conectar ao banco de dados',
  cache: 'Não foi possível conectar ao Redis'
} as const

export type Dependency = keyof typeof dependencyFailed

/** 404: unknown route, or a known route with a method it does not take. */
export const routeNotFound = 'Rota não encontrada'

/** 500: anything unexpected; the details go to the log only. */
export const internalError = 'Erro interno'

/** `/health/ready`'s 503. */
export const notReady = 'Serviço não está pronto'

const clientErrors: Readonly<Record<number, string>> = {
  400: 'Requisição inválida',
  404: routeNotFound,
  405: routeNotFound,
  408: 'Tempo de requisição esgotado',
  413: 'Corpo da requisição grande demais',
  414: 'URL grande demais',
  415: 'Tipo de conteúdo não suportado',
  431: 'Cabeçalhos grandes demais'
}

/** The documented `erro` text for a client error status; any status not listed reads as a plain 400. */
export function clientErrorText (statusCode: number): string {
  return clientErrors[statusCode] ?? clientErrors[400]!
}
