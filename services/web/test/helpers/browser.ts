import { execFile } from 'node:child_process'
import { constants } from 'node:fs'
import { access, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { Test } from 'tap'
import { checkBody, type Response } from './app.js'
import { endpoints } from './endpoints.js'
import { OWNER_VARIABLE, ownerTag } from './owner.js'
import { SERVICE_ROOT } from './server.js'

const run = promisify(execFile)

/** Debian's chromium package: playwright-core ships no browser of its own. */
export const CHROMIUM = '/usr/bin/chromium'

// This machine has no network: everything that would call home stays off.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'
]

// Not a promise about speed: only how long a page that will never render is
// waited for, so that it fails the check instead of the whole suite's timeout.
const UI_TIMEOUT_MS = 60_000

/** Where a test's screenshots go: under .tap/, which tap keeps and git ignores. */
export function screenshotPath (name: string): string {
  return join(SERVICE_ROOT, '.tap', 'screenshots', `${name}.png`)
}

/**
 * Installs Debian's chromium with apt-get when it is missing and this runs as
 * root; otherwise fails saying how to install it.
 */
async function ensureChromium (t: Test): Promise<void> {
  try {
    await access(CHROMIUM, constants.X_OK)
    return
  } catch {}
  if (process.getuid?.() !== 0) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (sudo apt-get install --no-install-recommends chromium), then run the test again`)
  }
  // Downloading and unpacking the browser takes minutes, far over tap's default timeout.
  t.setTimeout(10 * 60_000)
  t.comment(`${CHROMIUM} is missing: installing Debian's chromium package with apt-get`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  try {
    await run('apt-get', ['update'], { env })
    await run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { env, maxBuffer: 64 * 1024 * 1024 })
  } catch (error) {
    throw new Error(`could not install chromium with apt-get (install Debian's chromium package by hand): ${(error as Error).message}`)
  }
}

/** One headless Chromium for every check of a test file, closed when the test ends. */
export async function launchBrowser (t: Test): Promise<Browser> {
  await ensureChromium(t)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    env: { ...process.env, [OWNER_VARIABLE]: ownerTag() }
  })
  t.teardown(() => browser.close())
  return browser
}

export interface DocsOperation {
  method: string
  path: string
  summary: string
}

export interface DocsReport {
  /** Assets that did not load, console errors (CSP violations among them), a UI that never rendered. */
  problems: string[]
  /** Every operation the page lists, as it shows it. */
  operations: DocsOperation[]
  /** After "Try it out" and "Execute" on GET /cache/test: the real exchange and what the page shows of it. */
  cacheTest?: { response: Response, shownStatus: string, shownBody: string }
}

export interface OpenDocsOptions {
  /** Where the full-page screenshot is written, whatever happens. */
  screenshot: string
  /** Runs on the page before it loads: a test blocks requests here. */
  prepare?: (page: Page) => Promise<unknown>
  /** Whether to run "Try it out" on GET /cache/test once the operations are listed (the default). */
  tryCacheTest?: boolean
}

/**
 * Opens `${baseUrl}/docs` in a fresh context of `browser` (no cookies or cache of
 * an earlier check), reads the listed operations, then expands GET /cache/test,
 * clicks "Try it out" and "Execute". It reports what went wrong instead of
 * throwing, so a caller can assert that a broken page is noticed.
 */
export async function openDocs (browser: Browser, baseUrl: string, options: OpenDocsOptions): Promise<DocsReport> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const report: DocsReport = { problems: [], operations: [] }
  try {
    const page = await context.newPage()
    page.on('requestfailed', (request) => {
      report.problems.push(`${request.url()} failed: ${request.failure()?.errorText}`)
    })
    page.on('response', (response) => {
      if (response.status() >= 400) report.problems.push(`${response.url()} answered ${response.status()}`)
    })
    page.on('console', (message) => {
      if (message.type() === 'error') report.problems.push(`console error: ${message.text()}`)
    })
    page.on('pageerror', (error) => { report.problems.push(`page error: ${error.message}`) })
    // Chromium logs a CSP violation outside the console API that 'console' hears;
    // the page's own event does reach us.
    await page.exposeFunction('reportCspViolation', (violation: string) => { report.problems.push(`CSP violation: ${violation}`) })
    await page.addInitScript(`document.addEventListener('securitypolicyviolation', (event) =>
      reportCspViolation(event.violatedDirective + ' blocked ' + event.blockedURI))`)
    await options.prepare?.(page)

    // goto waits for the load event: every script has run or failed by then.
    await page.goto(`${baseUrl}/docs`)
    if (!await page.evaluate("'SwaggerUIBundle' in window")) {
      report.problems.push('Swagger UI did not load')
      return report
    }
    try {
      await page.locator('.opblock').first().waitFor({ timeout: UI_TIMEOUT_MS })
    } catch {
      report.problems.push('Swagger UI listed no operation')
      return report
    }
    report.operations = await page.locator('.opblock').evaluateAll((blocks) => blocks.map((block) => ({
      method: block.querySelector('.opblock-summary-method')?.textContent ?? '',
      path: block.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '',
      summary: block.querySelector('.opblock-summary-description')?.textContent ?? ''
    })))

    if (options.tryCacheTest === false) return report
    try {
      report.cacheTest = await tryCacheTest(page)
    } catch (error) {
      report.problems.push(`"Try it out" on GET /cache/test failed: ${(error as Error).message.split('\n')[0]}`)
    }
    return report
  } finally {
    const page = context.pages()[0]
    if (page !== undefined) {
      await mkdir(dirname(options.screenshot), { recursive: true })
      await page.screenshot({ path: options.screenshot, fullPage: true })
    }
    await context.close()
  }
}

/** Expands GET /cache/test, clicks "Try it out" then "Execute", and reads the result. */
async function tryCacheTest (page: Page): Promise<DocsReport['cacheTest']> {
  const operation = page.locator('.opblock-get').filter({ has: page.locator('.opblock-summary-path[data-path="/cache/test"]') })
  await operation.locator('.opblock-summary').click({ timeout: UI_TIMEOUT_MS })
  await operation.getByRole('button', { name: 'Try it out' }).click({ timeout: UI_TIMEOUT_MS })
  const [exchange] = await Promise.all([
    page.waitForResponse((response) => new URL(response.url()).pathname === '/cache/test', { timeout: UI_TIMEOUT_MS }),
    operation.getByRole('button', { name: 'Execute' }).click({ timeout: UI_TIMEOUT_MS })
  ])
  const shown = operation.locator('.live-responses-table .response')
  return {
    response: { statusCode: exchange.status(), headers: await exchange.allHeaders(), body: await exchange.text() },
    shownStatus: (await shown.locator('.response-col_status').textContent({ timeout: UI_TIMEOUT_MS }))?.trim() ?? '',
    shownBody: await shown.locator('.response-col_description pre').first().textContent({ timeout: UI_TIMEOUT_MS }) ?? ''
  }
}

/**
 * The whole check, for the local server and the container alike: the page
 * loads every asset without an error, lists the four endpoints with their
 * routes' own summaries, and "Try it out" on GET /cache/test gets a 200 whose
 * body matches the route's schema and is the one the page shows.
 */
export async function checkDocsInBrowser (t: Test, browser: Browser, baseUrl: string, screenshot: string): Promise<void> {
  const report = await openDocs(browser, baseUrl, { screenshot })
  t.comment(`screenshot: ${screenshot}`)
  t.same(report.problems, [], 'every asset loads, nothing fails in the page')
  for (const { url, schema } of endpoints) {
    t.same(report.operations.filter((operation) => operation.path === url),
      [{ method: 'GET', path: url, summary: schema.summary }], `GET ${url} is listed with its route's summary`)
  }
  const cacheTest = report.cacheTest
  if (cacheTest === undefined) {
    t.fail('"Try it out" on GET /cache/test got no response')
    return
  }
  const schema = endpoints.find(({ url }) => url === '/cache/test')!.schema
  const body = checkBody(t, cacheTest.response, 200, schema)
  t.equal(cacheTest.shownStatus, '200', 'the page shows the status')
  t.same(JSON.parse(cacheTest.shownBody), body, 'the page shows the body')
}
