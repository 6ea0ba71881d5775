"""Screenshots of each dashboard page at 1280x800 (used by scripts/screenshots.sh)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Session  # noqa: E402
from seed import XSS_DEVICE  # noqa: E402

WIDTH, HEIGHT = 1280, 800


def settle(page):
    # Let transitions and the chart layout finish.
    page.eval('document.fonts ? document.fonts.ready.then(() => true) : true')
    time.sleep(0.9)


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else 'screenshots')
    os.makedirs(out, exist_ok=True)
    with Session() as session:
        seeded = session.seeded
        model = seeded.deployments['model']
        shots = []

        def shoot(page, name):
            settle(page)
            path = os.path.join(out, name + '.png')
            page.screenshot(path)
            shots.append(path)

        page = session.browser.new_page(WIDTH, HEIGHT)
        page.navigate(session.url + '/ui/index.html')
        page.wait_for("document.querySelector('#token')", what='the sign-in page')
        shoot(page, '01-sign-in')

        page = session.open('operator', '#/overview')
        shoot(page, '02-overview')
        for name, hash_path in (('03-rollouts', '#/rollouts'), ('04-rollout', '#/rollouts/' + model),
                                ('06-devices', '#/devices'), ('07-device', '#/devices/cam-001'),
                                ('08-device-untrusted-text', '#/devices/' + XSS_DEVICE), ('09-bundles', '#/bundles'),
                                ('10-bundle', '#/bundles/face-detector/1.1.0')):
            session.go(page, hash_path)
            shoot(page, name)
            if name == '04-rollout':
                page.eval("document.querySelector('#rollout-actions [data-action=pause]').click()")
                page.wait_for("document.querySelector('#confirm-dialog[open]')", what='the dialog')
                page.eval("document.querySelector('#confirm-reason').value = 'camera firmware check'")
                shoot(page, '05-rollout-confirm')
                page.eval("document.querySelector('#confirm-cancel').click()")
        session.go(page, '#/devices?state=failed')
        shoot(page, '11-devices-filtered')
        session.go(page, '#/rollouts/' + seeded.deployments['shadow'])
        page.wait_for("document.querySelector('#rollout-quality .range-figure')", what='the model quality card')
        page.eval("document.querySelector('#card-quality').scrollIntoView()")
        shoot(page, '20-rollout-quality')

        viewer = session.open('viewer', '#/rollouts/' + seeded.deployments['paused'])
        shoot(viewer, '12-rollout-paused-viewer')
        viewer.send('Emulation.setEmulatedMedia', {'features': [{'name': 'prefers-color-scheme', 'value': 'dark'}]})
        session.go(viewer, '#/rollouts/' + model)
        shoot(viewer, '13-rollout-dark')
        session.go(viewer, '#/overview')
        shoot(viewer, '14-overview-dark')
        # The same pages on a phone (390x844).
        narrow = session.browser.new_page(390, 844)
        session.open('viewer', '#/overview', page=narrow)
        shoot(narrow, '15-overview-phone')
        session.go(narrow, '#/rollouts/' + model)
        shoot(narrow, '16-rollout-phone')
    for path in shots:
        print(os.path.relpath(path))
    print(f'screenshots: {len(shots)} pages in {os.path.relpath(out)} (1280x800; the phone ones 390x844)')


if __name__ == '__main__':
    main()
