// A backup's manifest.json, run by backup.sh and restore.sh with the web image's
// node so the host needs no JSON tool. MODE=write prints a manifest built from
// the environment; MODE=check reads one on stdin and prints what restore.sh
// needs, one `name value` line each, or exits 1 with the reason on stderr.
// Format 2 adds the schema version; a format 1 manifest has none, and restore.sh
// reads it from the dump instead.
const FORMAT = 'desafio3-backup/2'
const FORMATS = ['desafio3-backup/1', FORMAT]
const KEYS = ['contador_acessos', 'ultimo_acesso', 'integracao_contador', 'integracao_timestamp']
const CONSISTENCY = 'PostgreSQL and Redis are each a consistent snapshot, taken one after the other (PostgreSQL first), not at the same instant'

const env = process.env
const count = (name) => {
  const value = Number(env[name])
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} is not a count: ${env[name]}`)
  return value
}

function write () {
  const values = JSON.parse(env.REDIS_VALUES)
  const manifest = {
    format: FORMAT,
    created: env.CREATED,
    consistency: CONSISTENCY,
    project: { version: env.PROJECT_VERSION, commit: env.PROJECT_COMMIT },
    postgresql: {
      version: env.PG_VERSION,
      taken_at: env.PG_TAKEN_AT,
      file: 'postgres.dump',
      sha256: env.PG_SHA256,
      schema_version: count('PG_SCHEMA_VERSION'),
      acessos: { rows: count('PG_ROWS'), highest_id: count('PG_HIGHEST_ID') }
    },
    redis: {
      version: env.REDIS_VERSION,
      taken_at: env.REDIS_TAKEN_AT,
      file: 'redis.rdb',
      sha256: env.REDIS_SHA256,
      db: count('REDIS_DB'),
      keys: Object.fromEntries(KEYS.map((key, i) => [key, values[i]]))
    }
  }
  process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`)
}

function check (text) {
  let manifest
  try {
    manifest = JSON.parse(text)
  } catch {
    throw new Error('manifest.json is not complete JSON (truncated or damaged)')
  }
  if (!FORMATS.includes(manifest?.format)) throw new Error(`manifest.json is not a ${FORMATS.join(' or ')} manifest`)
  const { postgresql: pg, redis } = manifest
  const sha = (part, file) => {
    if (part?.file !== file || !/^[0-9a-f]{64}$/.test(part.sha256 ?? '')) throw new Error(`manifest.json lacks ${file} and its sha256`)
    return part.sha256
  }
  const counted = (value, what) => {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`manifest.json lacks ${what}`)
    return value
  }
  const lines = [
    ['sha256', `${sha(pg, 'postgres.dump')}  postgres.dump`],
    ['sha256', `${sha(redis, 'redis.rdb')}  redis.rdb`],
    ['rows', counted(pg.acessos?.rows, 'the row count')],
    ['highest_id', counted(pg.acessos?.highest_id, 'the highest id')],
    ['redis_db', counted(redis.db, 'the Redis database number')],
    ['schema_version', manifest.format === FORMAT ? counted(pg.schema_version, 'the schema version') : 'unknown'],
    ['created', manifest.created]
  ]
  const keys = redis.keys ?? {}
  const values = KEYS.map((key) => keys[key])
  if (values.some((value) => value !== null && typeof value !== 'string')) throw new Error('manifest.json lacks the values of the four keys')
  lines.push(['keys', JSON.stringify(values)])
  process.stdout.write(lines.map(([name, value]) => `${name} ${value}\n`).join(''))
}

try {
  if (env.MODE === 'write') {
    write()
  } else {
    let text = ''
    for await (const chunk of process.stdin) text += chunk
    check(text)
  }
} catch (error) {
  process.stderr.write(`${error.message}\n`)
  process.exit(1)
}
