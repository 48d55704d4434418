import t from 'tap'
import { checkDocsInBrowser, ensureChromium, openDocs, screenshotPath } from '../helpers/browser.js'
import { isolatedEnv } from '../helpers/app.js'
import { startServer } from '../helpers/server.js'

// /docs as a person sees it: the built server (`npm run build` first), a real
// browser, the Swagger UI's own JavaScript rendering the OpenAPI document.

t.test('/docs in headless Chromium lists the endpoints and runs GET /cache/test', async (t) => {
  const server = await startServer(t, await isolatedEnv(t))
  await checkDocsInBrowser(t, server.url, screenshotPath('docs'))
})

// Negative controls: the same page with the UI's assets blocked must be reported
// broken, or the check above could pass on a page nobody can use.
t.test('/docs with the Swagger UI assets blocked is reported broken', async (t) => {
  await ensureChromium(t)
  const server = await startServer(t, await isolatedEnv(t))

  t.test('every asset blocked: nothing renders', async (t) => {
    const report = await openDocs(server.url, {
      screenshot: screenshotPath('docs-assets-blocked'),
      prepare: (page) => page.route('**/docs/static/**', (route) => route.abort())
    })
    t.ok(report.problems.some((problem) => /\/docs\/static\/swagger-ui-bundle\.js failed/.test(problem)), 'the script that failed is named')
    t.ok(report.problems.includes('Swagger UI listed no operation within 10000 ms'), 'no operation is listed')
    t.same(report.operations, [])
    t.equal(report.cacheTest, undefined)
  })

  t.test('only the stylesheet blocked: the page works but is reported', async (t) => {
    const report = await openDocs(server.url, {
      screenshot: screenshotPath('docs-css-blocked'),
      prepare: (page) => page.route('**/swagger-ui.css', (route) => route.abort())
    })
    t.ok(report.problems.some((problem) => /\/docs\/static\/swagger-ui\.css failed/.test(problem)), 'the stylesheet is named')
  })

  // What a security header added in front of the service (helmet, a proxy) does
  // when it does not allow the UI's scripts.
  t.test('a Content-Security-Policy that forbids scripts: the violation is reported', async (t) => {
    const report = await openDocs(server.url, {
      screenshot: screenshotPath('docs-csp-blocked'),
      prepare: (page) => page.route((url) => url.pathname.replace(/\/$/, '') === '/docs', async (route) => {
        const response = await route.fetch()
        await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': "script-src 'none'" } })
      })
    })
    t.ok(report.problems.some((problem) => /^CSP violation: script-src-elem blocked http:\/\/127\.0\.0\.1:\d+\/docs\/static\/swagger-ui-bundle\.js$/.test(problem)), 'the refused script is reported')
    t.same(report.operations, [], 'nothing renders')
  })
})
