import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ConfigSchema } from '../../src/config.js'
import { composeDocument } from '../helpers/compose.js'

// The config schema is the one place a setting's default and meaning are
// written; these keep .env.example, docs/configuration.md and compose.yaml
// from drifting away from it.

const TOP = new URL('../../../../', import.meta.url)
const settings = Object.entries(ConfigSchema.properties).map(([name, schema]) => ({
  name,
  fallback: 'default' in schema ? String(schema.default) : undefined,
  description: String(schema.description)
}))

t.test('.env.example lists every setting with the schema\'s default', async (t) => {
  const example = await readFile(new URL('.env.example', TOP), 'utf8')
  for (const { name, fallback } of settings) {
    const lines = example.split('\n').filter((line) => new RegExp(`^(# )?${name}=`).test(line))
    t.equal(lines.length, 1, `${name} appears once`)
    t.equal(lines[0]?.replace(/^(# )?[A-Z_]+=/, ''), fallback ?? '', `${name}=${fallback ?? ''}`)
  }
})

t.test('every variable .env.example sets is a setting or one compose.yaml reads', async (t) => {
  const example = await readFile(new URL('.env.example', TOP), 'utf8')
  const compose = await readFile(new URL('compose.yaml', TOP), 'utf8')
  for (const [, name] of example.matchAll(/^(?:# )?([A-Z_]+)=/gm)) {
    t.ok(settings.some((setting) => setting.name === name) || compose.includes(`\${${name!}`), `${name!} is used`)
  }
})

t.test('docs/configuration.md\'s table is the schema\'s', async (t) => {
  const doc = await readFile(fileURLToPath(new URL('docs/configuration.md', TOP)), 'utf8')
  const table = doc.match(/<!-- settings:start -->\n([\s\S]*?)<!-- settings:end -->/)?.[1]
  const expected = [
    '| variable | default | meaning |',
    '| --- | --- | --- |',
    ...settings.map(({ name, fallback, description }) =>
      `| \`${name}\` | ${fallback === undefined ? '—' : `\`${fallback}\``} | ${description} |`)
  ].join('\n') + '\n'
  if (!t.equal(table, expected, 'the settings table matches the config schema')) {
    process.stderr.write(`paste this table between the settings markers of docs/configuration.md:\n\n${expected}\n`)
  }
})

t.test('compose.yaml restates no default of the service\'s', async (t) => {
  const { environment } = (await composeDocument()).services.web
  for (const [name, value] of Object.entries(environment as Record<string, unknown>)) {
    const setting = settings.find((candidate) => candidate.name === name)
    t.ok(setting, `${name} is a setting of the service`)
    const restated = typeof value === 'string' ? value.match(/^\$\{[A-Z_]+:-(.*)\}$/)?.[1] : undefined
    if (restated !== undefined) t.equal(restated, setting?.fallback, `${name}: compose's fallback is the schema's default`)
  }
})
