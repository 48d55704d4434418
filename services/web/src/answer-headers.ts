/**
 * Headers on every answer: the request id, so a caller can quote it and logs
 * join across services; `no-store`, because every answer is live state (a
 * count, a timestamp, a health) that no cache may serve again.
 */
export function answerHeaders (requestId: string): Record<string, string> {
  return { 'x-request-id': requestId, 'cache-control': 'no-store' }
}
