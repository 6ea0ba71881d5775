"""Browser tests of the fleet dashboard: a real ota-server with seeded data, driven through
headless Chromium over the DevTools protocol. Exits non-zero if any check fails."""
import http.client
import json
import os
import re
import sys
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Session, wait_ready, TOKEN_KEY  # noqa: E402
from seed import XSS_IMG, XSS_SCRIPT, XSS_DEVICE, STALE_PROBLEM, now_rfc3339, device_signing  # noqa: E402

DASHBOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'Sources', 'OTAServer', 'Resources', 'dashboard')
CSP = "default-src 'self'; script-src 'self'; style-src 'self'"

failures = []
passed = 0


def check(condition, message, detail=None):
    global passed
    if condition:
        passed += 1
        print(f'ok - {message}', flush=True)
    else:
        failures.append(message)
        print(f'FAIL - {message}' + (f'\n       {detail}' if detail is not None else ''), flush=True)
    return condition


def equal(actual, expected, message):
    return check(actual == expected, message, f'expected {expected!r}, got {actual!r}')


def step(name):
    """Runs a group of checks; an exception fails the group and the run goes on."""
    def wrap(fn):
        def run(*args):
            print(f'# {name}', flush=True)
            try:
                fn(*args)
            except Exception as error:  # noqa: BLE001
                failures.append(f'{name}: {error}')
                print(f'FAIL - {name}: {error}', flush=True)
                traceback.print_exc(limit=3)
        return run
    return wrap


def js(value):
    return json.dumps(value)


def text(page, selector):
    return page.eval(f'(document.querySelector({js(selector)}) || {{}}).textContent || null')


def count(page, selector):
    return page.eval(f'document.querySelectorAll({js(selector)}).length')


def click(page, selector):
    page.wait_for(f'document.querySelector({js(selector)})', what=selector)
    page.eval(f'document.querySelector({js(selector)}).click()')


# ---- checks without a browser ---------------------------------------------------------------

def raw_get(url, path, headers=None):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request('GET', path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


@step('static files, redirect and Content-Security-Policy')
def static_checks(session):
    status, headers, _ = raw_get(session.url, '/')
    equal((status, headers.get('location')), (303, '/ui/'), 'GET / redirects to /ui/')
    status, headers, body = raw_get(session.url, '/ui/')
    check(status == 200 and headers.get('content-type', '').startswith('text/html') and b'/ui/js/main.js' in body,
          'GET /ui/ serves the dashboard page', f'{status} {headers.get("content-type")} {body[:120]!r}')
    files = []
    for folder, _, names in os.walk(DASHBOARD):
        for name in names:
            files.append(os.path.relpath(os.path.join(folder, name), DASHBOARD))
    types = {'html': 'text/html', 'css': 'text/css', 'js': 'text/javascript', 'svg': 'image/svg+xml'}
    for relative in sorted(files):
        status, headers, body = raw_get(session.url, '/ui/' + relative)
        expected = types.get(relative.rsplit('.', 1)[-1], '?')
        check(status == 200 and headers.get('content-type', '').startswith(expected) and headers.get('content-security-policy', '').startswith(CSP)
              and body == open(os.path.join(DASHBOARD, relative), 'rb').read(),
              f'/ui/{relative} is served as {expected} with the CSP', f'{status} {headers}')
    # The sources themselves: no markup sinks, no inline style or script, nothing from the internet.
    forbidden = [(r'\.innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function', 'an HTML sink or eval'),
                 (r'<style|\sstyle=|setAttribute\(\s*[\'"]style', 'an inline style'),
                 (r'<script(?![^>]*\bsrc=)', 'an inline script'),
                 (r'\son[a-z]+=', 'an inline event handler attribute'),
                 (r'https?://(?!www\.w3\.org/2000/svg)', 'a URL outside the server')]
    for relative in sorted(files):
        source = open(os.path.join(DASHBOARD, relative), encoding='utf-8').read()
        found = []
        for pattern, what in forbidden:
            match = re.search(pattern, source)
            if match:
                found.append(f'{what}: ...{source[max(0, match.start() - 40):match.end() + 40]}...')
        check(not found, f'{relative}: no HTML sink, eval, inline style, script or handler, nor any external URL', '; '.join(found))


# ---- the browser, signed in as admin --------------------------------------------------------

@step('sign-in')
def sign_in(session, page):
    page.navigate(session.url + '/ui/index.html')
    page.wait_for("document.querySelector('#token')", what='the sign-in form')
    page.eval("document.querySelector('#token').value = 'ota_adm_not-a-real-token'; document.querySelector('.signin-form').requestSubmit()")
    message = page.wait_for("document.querySelector('#signin-error').textContent", what='the refusal message')
    check('does not accept' in message, 'a wrong token is refused with a message', message)
    equal(page.eval(f'sessionStorage.getItem({js(TOKEN_KEY)})'), None, 'a refused token is not stored')
    page.eval(f"document.querySelector('#token').value = {js(session.seeded.tokens['admin'])}; document.querySelector('.signin-form').requestSubmit()")
    wait_ready(page, 'the overview after sign-in')
    equal(page.eval(f'sessionStorage.getItem({js(TOKEN_KEY)})'), session.seeded.tokens['admin'], 'the token is kept in sessionStorage')
    check(session.seeded.tokens['admin'] not in page.eval('location.href'), 'the token is not in the URL')
    equal(text(page, '#role'), 'admin', 'the header shows the admin role')
    equal(page.eval("[...document.querySelectorAll('.nav-link')].map(a => a.textContent)"), ['Overview', 'Rollouts', 'Devices', 'Bundles'],
          'the header navigation')
    check(page.eval("!!document.querySelector('#signout')"), 'a sign-out button is shown')


@step('overview')
def overview(session, page):
    seeded = session.seeded
    summary = seeded.ok('GET', '/api/v1/fleet/summary?silent_after_s=3600', token=seeded.tokens['viewer'])
    session.go(page, '#/overview?silent=3600')
    equal(text(page, '[data-kpi=devices] .kpi-value'), str(seeded.expect['devices']), 'the device count')
    equal(text(page, '[data-kpi=silent] .kpi-value'), str(seeded.expect['silent_1h']), 'devices not seen for an hour')
    equal(text(page, '[data-kpi=rollouts] .kpi-value'), str(summary['active_deployments']), 'rollouts in progress')
    equal(text(page, '[data-kpi=stale-trust] .kpi-value'), '1', 'devices with stale trust')
    legend = page.eval("Object.fromEntries([...document.querySelectorAll('#card-states .legend-value')].map(e => [e.dataset.state, e.textContent]))")
    equal(legend, {c['key']: str(c['count']) for c in summary['by_state']}, 'devices by state match the server')
    hardware = page.eval("[...document.querySelectorAll('#card-hardware .bar-row')].map(g => g.querySelector('.bar-label').textContent + '=' + g.querySelector('.bar-count').textContent)")
    equal(sorted(hardware), sorted(f'{k}={v}' for k, v in seeded.expect['by_hardware'].items()), 'devices by hardware class (SVG bars)')
    for bundle in summary['bundles']:
        bars = page.eval(f"[...document.querySelectorAll('.version-card[data-bundle={bundle['name']}] svg .bar-row')].map(g => g.querySelector('.bar-label').textContent + '=' + g.querySelector('.bar-count').textContent)")
        equal(sorted(bars), sorted(f'{v["version"]}={v["count"]}' for v in bundle['versions']), f'versions of {bundle["name"]} in an SVG chart')
    equal(count(page, '#silent-table tbody tr'), seeded.expect['silent_1h'], 'the silent devices are listed')
    # A longer silence leaves only the devices not seen for days.
    page.eval("{ const s = document.querySelector('#silent-after'); s.value = '86400'; s.dispatchEvent(new Event('change')); }")
    page.wait_for(f"document.querySelector('[data-kpi=silent] .kpi-value').textContent === {js(str(seeded.expect['silent_1d']))}",
                  what='the silent count for one day')
    passed_ids = page.eval("[...document.querySelectorAll('#silent-table tbody tr td:first-child')].map(td => td.textContent)")
    equal(sorted(passed_ids), ['cam-012', 'cam-013', 'cam-014'], 'choosing "1 day" lists the devices silent for days')
    check('silent=86400' in page.eval('location.hash'), 'the choice is kept in the address')


@step('rollouts list')
def rollouts_list(session, page):
    seeded = session.seeded
    session.go(page, '#/rollouts')
    equal(count(page, '#rollouts-table tbody tr'), len(seeded.deployments), 'every rollout is listed')
    row = text(page, f"#rollouts-table tr[data-id={seeded.deployments['model']}]") or ''
    phase = f"{seeded.expect['model_current_phase'] + 1} / 3"
    check('face-detector' in row and '1.1.0' in row and phase in row and 'active' in row, 'the model rollout row: bundle, phase, status', row)
    row = text(page, f"#rollouts-table tr[data-id={seeded.deployments['paused']}]") or ''
    check('paused' in row, 'the paused rollout shows as paused', row)
    session.go(page, '#/rollouts/' + seeded.deployments['firmware'])
    saved = text(page, '#rollout-transfer') or ''
    check('4 devices fetched 4.7 KiB of 18 KiB' in saved and '13 KiB saved' in saved,
          'a rollout shows the bytes its devices fetched and saved', saved)


@step('model quality of a rollout with a shadow phase, and figures per version')
def model_quality(session, page):
    seeded = session.seeded
    session.go(page, '#/rollouts/' + seeded.deployments['shadow'])
    page.wait_for("document.querySelector('#rollout-quality .gate') !== null", what='the gates of the shadow rollout')
    verdicts = page.eval("Object.fromEntries([...document.querySelectorAll('#rollout-quality .gate')].map(g => [g.dataset.gate, g.dataset.verdict]))")
    equal(verdicts, {'agreement>=0.97': 'pass', 'latency_p95<=1.5x': 'fail'}, 'each gate with its verdict on the phase median')
    paused = text(page, '#paused-reason') or ''
    check('median latency_p95 2.05x > 1.5x over 2 devices' in paused, 'the gate paused the rollout with its figures', paused)
    charts = page.eval("[...document.querySelectorAll('#rollout-quality .range-figure')].map(f => f.dataset.metric + ':' + f.querySelectorAll('.range-row').length)")
    check('latency p95 (ms):2' in charts and 'agreement:1' in charts, 'a small chart per metric: candidate against the live model', charts)
    median = page.eval("document.querySelector('.range-figure[data-metric=\"latency p95 (ms)\"] .range-candidate .range-value').textContent")
    equal(median, '2.05', 'the candidate latency chart shows the median of the devices')
    session.go(page, '#/overview')
    page.wait_for("document.querySelector('#version-metrics tbody tr') !== null", what='figures per version')
    rows = page.eval("[...document.querySelectorAll('#version-metrics tbody tr')].map(r => r.dataset.bundle + ' ' + r.dataset.version)")
    equal(sorted(rows), ['anomaly-net 1.0.0', 'anomaly-net 1.1.0'], 'the overview shows live figures per running version')


@step('one rollout, live')
def rollout_detail(session, page):
    seeded = session.seeded
    dep = seeded.deployments['model']
    session.go(page, '#/rollouts/' + dep)
    expect = seeded.expect['model_counts']
    equal(text(page, '#overall-succeeded'), str(expect['succeeded']), 'devices succeeded overall')
    legend = page.eval("Object.fromEntries([...document.querySelectorAll('#card-progress .legend-value')].map(e => [e.dataset.state, e.textContent]))")
    equal({k: legend.get(k) for k in expect}, {k: str(v) for k, v in expect.items()}, 'counts per state')
    equal(count(page, '#phases .phase'), 3, 'three phases')
    equal(page.eval("document.querySelector('#phases .phase-current').dataset.phase"), str(seeded.expect['model_current_phase']),
          'the current phase is marked')
    for index, expected in seeded.expect['model_phases'].items():
        shown = page.eval(f"Object.fromEntries([...document.querySelectorAll('#phases [data-phase=\\'{index}\\'] .phase-counts li')].map(li => [li.dataset.state, li.querySelector('b').textContent]))")
        equal(shown, {k: str(v) for k, v in expected.items()}, f'phase {index + 1} counts per state')
    reasons = page.eval("[...document.querySelectorAll('#failure-reasons tbody tr')].map(tr => tr.cells[0].textContent + '=' + tr.cells[1].textContent)")
    check(f'{XSS_SCRIPT}=1' in reasons and 'health check failed: top1 0.41 below 0.85=1' in reasons and 'reload hook exited 3=1' in reasons,
          'failure reasons are grouped with counts, markup shown as text', reasons)
    versions = page.eval("[...document.querySelectorAll('#card-versions .bar-row')].map(g => g.querySelector('.bar-label').textContent)")
    check('1.0.0' in versions and '1.1.0' in versions, 'running versions chart', versions)
    advance = ['advance'] if seeded.expect['model_current_phase'] < 2 else []  # not from the last phase
    equal(page.eval("[...document.querySelectorAll('#rollout-actions [data-action]')].map(b => b.dataset.action)"), advance + ['pause', 'cancel'],
          'an admin may advance (unless in the last phase), pause and cancel an active rollout')
    equal(page.eval('window.__xss'), None, 'no script from a failure reason ran')

    # The page follows the rollout by itself: a device finishes, the page shows it.
    page.eval('window.__sameDocument = true')
    device = seeded.expect['assigned'][-1]
    fd = {'deployment_id': dep, 'bundle_name': 'face-detector', 'version': '1.1.0'}
    seeded.events(device, [dict(fd, state='installing', detail=''), dict(fd, state='succeeded', detail='health check passed')])
    started = time.time()
    page.wait_for(f"document.querySelector('#overall-succeeded').textContent === {js(str(expect['succeeded'] + 1))}", timeout=8,
                  what='the live update of the succeeded count')
    check(page.eval('window.__sameDocument === true'), f'the progress updated by itself in {time.time() - started:.1f} s, without a reload')

    # Pause with a reason, through the confirmation dialog, then resume.
    click(page, '#rollout-actions [data-action=pause]')
    page.wait_for("document.querySelector('#confirm-dialog[open]')", what='the confirmation dialog')
    check(page.eval("document.querySelector('#confirm-dialog').textContent.includes('Pause')"), 'pausing asks for confirmation first')
    click(page, '#confirm-cancel')
    time.sleep(0.3)
    equal(seeded.ok('GET', f'/api/v1/deployments/{dep}', token=seeded.tokens['viewer'])['status'], 'active', 'declining the dialog changes nothing')
    click(page, '#rollout-actions [data-action=pause]')
    page.wait_for("document.querySelector('#confirm-dialog[open]')", what='the confirmation dialog')
    page.eval("document.querySelector('#confirm-reason').value = 'camera firmware check'; document.querySelector('#confirm-ok').click()")
    page.wait_for("document.querySelector('#rollout-title [data-status]').dataset.status === 'paused'", what='the paused status')
    check('camera firmware check' in (text(page, '#paused-reason') or ''), 'the paused reason is shown', text(page, '#paused-reason'))
    equal(page.eval("[...document.querySelectorAll('#rollout-actions [data-action]')].map(b => b.dataset.action)"), advance + ['resume', 'cancel'],
          'a paused rollout offers resume instead of pause')
    click(page, '#rollout-actions [data-action=resume]')
    page.wait_for("document.querySelector('#confirm-dialog[open]')", what='the confirmation dialog')
    click(page, '#confirm-ok')
    page.wait_for("document.querySelector('#rollout-title [data-status]').dataset.status === 'active'", what='the active status again')
    equal(seeded.ok('GET', f'/api/v1/deployments/{dep}', token=seeded.tokens['viewer'])['status'], 'active', 'the server resumed the rollout')

    session.go(page, '#/rollouts/' + seeded.deployments['paused'])
    check('waiting for the lab maintenance window' in (text(page, '#paused-reason') or ''), 'a paused rollout shows why', text(page, '#paused-reason'))


@step('devices')
def devices(session, page):
    seeded = session.seeded
    ids = lambda: page.eval("[...document.querySelectorAll('#devices-table tbody tr')].map(tr => tr.dataset.id)")  # noqa: E731
    session.go(page, '#/devices')
    equal(len(ids()), seeded.expect['devices'], 'one page holds the whole small fleet')
    row = text(page, '#devices-table tr[data-id=cam-001]') or ''
    check('face-detector' in row and '1.1.0' in row and 'succeeded' in row and 'rpi4-aarch64' in row and 'lobby' in row,
          'a row shows state, hardware, running bundle and tags', row)

    session.go(page, '#/devices?limit=10')
    first = ids()
    equal(len(first), 10, 'page 1 of 10')
    equal(text(page, '#device-status'), 'Showing 1–10', 'the page position')
    click(page, '#page-next')
    page.wait_for(f"document.querySelector('#device-status').textContent === 'Showing 11–20'", what='page 2')
    second = ids()
    check(len(second) == 10 and not set(first) & set(second) and second[0] > first[-1], 'page 2 continues after page 1 (server cursor)', second)
    click(page, '#page-next')
    page.wait_for("document.querySelector('#device-status').textContent.startsWith('Showing 21–25')", what='page 3')
    equal(len(ids()), 5, 'the last page')
    check(page.eval("document.querySelector('#page-next').disabled"), 'no next page after the last one')
    click(page, '#page-prev')
    page.wait_for(f"document.querySelector('#device-status').textContent === 'Showing 11–20'", what='back to page 2')
    equal(ids(), second, 'previous goes back one page')

    session.go(page, '#/devices')
    page.eval("{ const s = document.querySelector('#device-search'); s.value = 'jetson'; s.dispatchEvent(new Event('input')); }")
    page.wait_for("[...document.querySelectorAll('#devices-table tbody tr')].every(tr => tr.dataset.id.startsWith('jetson')) && document.querySelectorAll('#devices-table tbody tr').length === 6",
                  what='the id search')
    check('q=jetson' in page.eval('location.hash'), 'the search is kept in the address')

    failed = [d['id'] for d in seeded.ok('GET', '/api/v1/devices?state=failed', token=seeded.tokens['viewer'])['devices']]
    session.go(page, '#/devices?state=failed')
    equal(sorted(ids()), sorted(failed), 'the state filter')
    session.go(page, '#/devices?hardware=ipc-x86_64')
    equal(ids(), ['ipc-01', 'ipc-02', 'ipc-03', 'ipc-04'], 'the hardware filter')
    session.go(page, '#/devices?seen=before:86400')
    equal(ids(), ['cam-012', 'cam-013', 'cam-014'], 'the last-seen filter')
    session.go(page, '#/devices?bundle=face-detector&version=1.1.0')
    running = [d['id'] for d in seeded.ok('GET', '/api/v1/devices?bundle=face-detector&version=1.1.0', token=seeded.tokens['viewer'])['devices']]
    equal(ids(), running, 'the bundle and version filter')
    session.go(page, '#/devices?tag=plant')
    equal(ids(), ['ipc-01', 'ipc-02', 'ipc-03', 'ipc-04'], 'the tag filter')
    session.go(page, '#/devices?group=lab-berlin')
    equal(ids(), [f'jetson-{i:02d}' for i in range(1, 7)], 'the group filter')
    session.go(page, '#/devices?q=has%20space')
    check('may hold only' in (text(page, '#main .inline-error') or ''), 'an invalid filter is explained, not sent')

    session.go(page, '#/devices?trust=stale')
    equal(ids(), ['ipc-02'], 'the stale-trust filter')
    check('stale trust' in (text(page, '#devices-table tr[data-id=ipc-02]') or ''), 'a device with stale trust is marked in the table')
    session.go(page, '#/devices/ipc-02')
    problem = text(page, '#device-trust-problem') or ''
    check(problem == STALE_PROBLEM, 'the device page shows its trust problem as text', problem)
    check(page.eval("document.querySelector('#device-trust-problem b') === null"), 'markup in a trust problem is not rendered')

    session.go(page, '#/devices/jetson-01')
    check('edge-firmware' in (text(page, '#installed-table') or '') and '2.3.0' in (text(page, '#installed-table') or ''), 'a device page shows what it runs')


@step('markup from devices is only text')
def xss(session, page):
    session.go(page, '#/devices/' + XSS_DEVICE)
    attributes = page.eval("Object.fromEntries([...document.querySelectorAll('#attributes-table tr')].map(tr => [tr.cells[0].textContent, tr.cells[1].textContent]))")
    equal(attributes, {'note': XSS_IMG, 'location': XSS_SCRIPT}, 'attributes appear literally')
    details = page.eval("[...document.querySelectorAll('#timeline .event-detail')].map(e => e.textContent)")
    check(XSS_SCRIPT in details and f'start {XSS_IMG}' in details, 'event details appear literally', details)
    time.sleep(0.5)
    equal(page.eval('window.__xss'), None, 'no injected script or handler ran (window.__xss is undefined)')
    equal(page.eval("document.querySelectorAll('img[src=x], #main script, #main img').length"), 0, 'no element was created from device data')
    equal(page.eval('document.scripts.length'), 1, 'the only script is the dashboard module')
    session.go(page, '#/devices?q=evil')
    equal(page.eval("[...document.querySelectorAll('#devices-table tbody tr')].map(tr => tr.dataset.id)"), [XSS_DEVICE], 'the device is listed normally')
    equal(page.eval('window.__xss'), None, 'still no script ran')


@step('bundles')
def bundles(session, page):
    seeded = session.seeded
    session.go(page, '#/bundles')
    versions = page.eval("[...document.querySelectorAll('.bundle-table[data-bundle=face-detector] tbody tr')].map(tr => tr.dataset.version)")
    equal(versions, ['1.1.0', '1.0.0'], 'face-detector versions, newest first')
    bundle = seeded.bundles[('face-detector', '1.1.0')]
    row = text(page, ".bundle-table[data-bundle=face-detector] tr[data-version='1.1.0']") or ''
    check(bundle['signers'][0][:12] in row and 'rpi4-aarch64' in row and 'jetson-orin' in row and 'KiB' in row and 'onnx' in row,
          'a version row shows signer key id, hardware, size and metadata', row)

    session.go(page, '#/bundles/face-detector/1.1.0')
    equal(page.eval("[...document.querySelectorAll('#signers li')].map(li => li.textContent)"), bundle['signers'], 'the signers (full key ids)')
    meta = page.eval("Object.fromEntries([...document.querySelectorAll('#metadata-table tr')].map(tr => [tr.dataset.path, tr.cells.length > 1 ? tr.cells[1].textContent : '(group)']))")
    equal(meta, {'framework': 'onnx', 'quantization': 'int8', 'trained_by': XSS_SCRIPT, 'input': '(group)', 'input.shape': '1, 3, 320, 320',
                 'metrics': '(group)', 'metrics.dataset': 'coco-2017', 'metrics.latency_ms': '11.5', 'metrics.top1': '0.912'},
          'metadata, nested objects included, as a table')
    equal(count(page, '#files-table tbody tr'), 2, 'the files')
    facts = text(page, '#bundle-facts') or ''
    check(bundle['digest'] in facts and 'model' in facts and 'rpi4-aarch64' in facts, 'digest, kind and hardware', facts)
    equal(page.eval('window.__xss'), None, 'no script from metadata ran')


@step('sign-out')
def sign_out(session, page):
    click(page, '#signout')
    page.wait_for("document.querySelector('#token')", what='the sign-in form')
    equal(page.eval(f'sessionStorage.getItem({js(TOKEN_KEY)})'), None, 'signing out forgets the token')


# ---- other roles ----------------------------------------------------------------------------

@step('viewer: read-only')
def viewer(session):
    seeded = session.seeded
    dep = seeded.deployments['model']
    page = session.open('viewer', '#/rollouts/' + dep)
    equal(text(page, '#role'), 'viewer', 'the header shows the viewer role')
    equal(count(page, 'button[data-action]'), 0, 'a viewer sees no rollout buttons')
    check(page.eval("document.querySelector('#rollout-actions').hidden"), 'the action bar is hidden',
          page.eval("location.hash + ' ' + document.querySelector('#main').dataset.view + ' ' + document.querySelector('#main').textContent.slice(0, 200)"))
    check(text(page, '#overall-succeeded') is not None, 'a viewer still sees the progress')
    status = page.eval(f"""fetch('/api/v1/deployments/{dep}/pause', {{method: 'POST',
        headers: {{Authorization: 'Bearer ' + sessionStorage.getItem({js(TOKEN_KEY)}), 'Content-Type': 'application/json'}},
        body: JSON.stringify({{reason: 'not allowed'}})}}).then(r => r.status)""")
    equal(status, 403, 'the server refuses the action from a viewer (403)')
    equal(seeded.ok('GET', f'/api/v1/deployments/{dep}', token=seeded.tokens['viewer'])['status'], 'active', 'the rollout is unchanged')
    session.go(page, '#/devices/' + XSS_DEVICE)
    equal(page.eval('window.__xss'), None, 'no script ran for the viewer either')
    # A token revoked or mistyped mid-session brings back the sign-in page.
    page.eval(f"sessionStorage.setItem({js(TOKEN_KEY)}, 'ota_adm_revoked')")
    page.send('Page.reload')
    message = page.wait_for("document.querySelector('#signin-error') && document.querySelector('#signin-error').textContent", what='the sign-in page')
    check('no longer accepts' in message, 'a refused token ends the session', message)
    session.browser.send('Target.closeTarget', {'targetId': page.target})


@step('operator and publisher roles')
def other_roles(session):
    dep = session.seeded.deployments['model']
    advance = ['advance'] if session.seeded.expect['model_current_phase'] < 2 else []
    for role, actions in (('operator', advance + ['pause', 'cancel']), ('publisher', [])):
        page = session.open(role, '#/rollouts/' + dep)
        equal(text(page, '#role'), role, f'the role is recognised as {role}')
        equal(page.eval("[...document.querySelectorAll('#rollout-actions [data-action]')].map(b => b.dataset.action)"), actions,
              f'the {role} is offered {actions or "no actions"}')
        session.browser.send('Target.closeTarget', {'targetId': page.target})


@step('pending devices are accepted by an operator')
def pending_device(session):
    seeded = session.seeded
    token = json.loads(seeded.otactl('enroll-token', 'create', '--name', 'waiting', '--json', token='operator'))['token']
    key = device_signing.DeviceKey(seeded.root)
    seeded.ok('POST', '/api/v1/device/register', key.registration('pending-01', 'rpi4-aarch64', token))
    viewer = session.open('viewer', '#/devices/pending-01')
    page_ready = "document.querySelector('#device-status')"
    viewer.wait_for(page_ready, what='the pending device page')
    check('pending' in (text(viewer, '#device-status') or ''), 'a pending device is marked pending', text(viewer, '#device-status'))
    equal(count(viewer, '#device-accept'), 0, 'a viewer is offered no accept button')
    session.browser.send('Target.closeTarget', {'targetId': viewer.target})
    page = session.open('operator', '#/devices/pending-01')
    page.wait_for("document.querySelector('#device-accept')", what='the accept button')
    click(page, '#device-accept')
    page.wait_for("!document.querySelector('#device-status') && document.querySelector('#device-reject')", what='the device accepted')
    equal(seeded.ok('GET', '/api/v1/devices/pending-01', token=seeded.tokens['viewer'])['device']['status'], 'accepted',
          'the operator accepted it on the server')
    session.browser.send('Target.closeTarget', {'targetId': page.target})


EXPECTED_NOISE = re.compile(r'status of (401|403)')


def main():
    started = time.time()
    with Session() as session:
        static_checks(session)
        page = session.browser.new_page()
        sign_in(session, page)
        overview(session, page)
        rollouts_list(session, page)
        rollout_detail(session, page)
        devices(session, page)
        xss(session, page)
        bundles(session, page)
        sign_out(session, page)
        viewer(session)
        other_roles(session)
        pending_device(session)
        session.browser.pump(0.3)
        # 401 and 403 answers are expected (wrong token, role probes, the viewer's refused action).
        problems = [p for p in session.browser.problems() if not EXPECTED_NOISE.search(p)]
        check(not problems, 'no script error, console error or CSP violation in the browser', '\n       '.join(problems))
    print(f'# {passed} passed, {len(failures)} failed in {time.time() - started:.1f} s')
    if failures:
        print('# failed:\n#   ' + '\n#   '.join(failures))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
