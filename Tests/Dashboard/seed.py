"""Seeds a real ota-server with a small, known fleet for the dashboard tests and screenshots.

Everything runs against 127.0.0.1 only: keys, trust root, tokens, the server, published
bundles, an enrollment token, registered devices, check-ins, update events and deployments.
"""
import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'Fixtures'))
import device_signing  # noqa: E402  (a device's key and signed requests)
from datetime import datetime, timedelta, timezone

# Markup that must only ever appear as text in the dashboard.
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = '<script>window.__xss=2</script>'
XSS_DEVICE = 'evil-cam-01'
STALE_PROBLEM = 'targets version 7 expired at <b>yesterday</b>; renew the release metadata'


def now_rfc3339(offset_seconds=0):
    moment = datetime.now(timezone.utc) + timedelta(seconds=offset_seconds)
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ')


class Seeded:
    """A running server with seeded data. Call stop() (or use as a context manager)."""

    # The model rollout needs this many devices in its 50% phase, or it advances to 100%.
    MIN_FIRST_SHARE = 5

    def __init__(self, root, binaries):
        self.root = root
        self.bin = binaries
        self.server = None
        self.url = None
        self.tokens = {}
        self.bundles = {}          # (name, version) -> bundle JSON
        self.devices = {}          # id -> (session id, session key)
        self.tag_tokens = {}       # (tags, group) -> an enrollment token giving them
        self.deployments = {}      # label -> deployment id
        self.expect = {}           # numbers the tests check on the pages

    # -- processes -------------------------------------------------------------------------
    def run(self, *args, env=None):
        full_env = dict(os.environ)
        full_env.pop('http_proxy', None)
        full_env.pop('https_proxy', None)
        full_env.pop('HTTP_PROXY', None)
        full_env.pop('HTTPS_PROXY', None)
        full_env['NO_PROXY'] = '127.0.0.1,localhost'
        if env:
            full_env.update(env)
        result = subprocess.run(args, capture_output=True, text=True, env=full_env, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f'{" ".join(args)} failed ({result.returncode}): {result.stderr.strip()} {result.stdout.strip()}')
        return result.stdout

    def otactl(self, *args, token='admin'):
        return self.run(os.path.join(self.bin, 'otactl'), *args,
                        env={'OTA_SERVER': self.url, 'OTA_TOKEN': self.tokens[token]})

    def start(self):
        """Creates keys, the trust root and one token per role, then starts the server."""
        self.data = os.path.join(self.root, 'data')
        keys = os.path.join(self.root, 'k')
        self.run(os.path.join(self.bin, 'otactl'), 'keygen', '--out', keys)
        self.run(os.path.join(self.bin, 'otactl'), 'trust', 'init', '--key', keys + '.pub', '--out', os.path.join(self.root, 'trust.json'))
        for role in ('admin', 'operator', 'publisher', 'viewer'):
            out = self.run(os.path.join(self.bin, 'ota-server'), 'token', 'create', '--data', self.data, '--role', role, '--name', f'dash-{role}', '--json')
            self.tokens[role] = json.loads(out)['token']
        return self.launch()

    def launch(self):
        log = open(os.path.join(self.root, 'server.log'), 'a')
        self.server = subprocess.Popen(
            [os.path.join(self.bin, 'ota-server'), 'serve', '--data', self.data, '--listen', '127.0.0.1:0',
             '--trust', os.path.join(self.root, 'trust.json'), '--log-level', 'warning'],
            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        self.url = None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.server.stdout.readline()
            if not line:
                raise RuntimeError('ota-server exited before listening; see ' + log.name)
            match = re.search(r'listening on (http://127\.0\.0\.1:\d+)', line)
            if match:
                self.url = match.group(1)
                break
        if not self.url:
            raise RuntimeError('ota-server did not start')
        # Keep draining stdout so the server never blocks on a full pipe.
        stdout = self.server.stdout
        threading.Thread(target=lambda: [None for _ in stdout], daemon=True).start()
        return self

    def age_devices(self, seconds_ago):
        """Makes devices look silent: stops the server, moves their last check-in into the past
        in the database, and starts the server again (the API has no way to backdate)."""
        self.stop()
        now = int(time.time())
        with sqlite3.connect(os.path.join(self.data, self.database_name())) as db:
            for device_id, seconds in seconds_ago.items():
                db.execute('UPDATE devices SET last_seen = ? WHERE id = ?', (now - seconds, device_id))
        self.launch()

    def database_name(self):
        names = [n for n in os.listdir(self.data) if n.endswith(('.sqlite', '.sqlite3', '.db'))]
        if len(names) != 1:
            raise RuntimeError(f'cannot tell the database in {self.data}: {os.listdir(self.data)}')
        return names[0]

    def stop(self):
        if self.server and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- HTTP ------------------------------------------------------------------------------
    def http(self, method, path, body=None, token=None, device=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header('Content-Type', 'application/json')
        if token:
            request.add_header('Authorization', 'Bearer ' + token)
        if device:
            for name, value in device_signing.signed_headers(method, path, data or b'', *self.devices[device]).items():
                request.add_header(name, value)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=20) as response:
                text = response.read().decode()
                return response.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text

    def ok(self, method, path, body=None, token=None, device=None):
        status, answer = self.http(method, path, body, token, device)
        if status >= 300:
            raise RuntimeError(f'{method} {path} -> {status}: {answer}')
        return answer

    # -- seeding ---------------------------------------------------------------------------
    def publish(self, name, version, kind, compatible, metadata, files):
        folder = os.path.join(self.root, f'payload-{name}-{version}')
        os.makedirs(folder, exist_ok=True)
        for path, text in files.items():
            with open(os.path.join(folder, path), 'w') as handle:
                handle.write(text)
        out = os.path.join(self.root, f'{name}-{version}.otab')
        args = ['bundle', 'create', folder, '--name', name, '--version', version, '--kind', kind,
                '--compatible', ','.join(compatible), '--key', os.path.join(self.root, 'k.key'), '-o', out]
        for item in metadata:
            args += ['--metadata', item]
        self.run(os.path.join(self.bin, 'otactl'), *args)
        self.otactl('publish', out, token='publisher')
        bundle = self.ok('GET', f'/api/v1/bundles/{name}/{version}', token=self.tokens['viewer'])
        self.bundles[(name, version)] = bundle
        return bundle

    def register(self, enrollment, device_id, hardware, attributes=None, tags=None, group=None):
        """Registers a device with a key of its own; its tags come from the enrollment token
        (a device cannot choose them), so a token giving `tags` is made when needed."""
        if tags or group:
            key = (tuple(tags or []), group)
            if key not in self.tag_tokens:
                args = ['enroll-token', 'create', '--max-uses', '1000', '--auto-accept', '--json']
                for tag in tags or []:
                    args += ['--tag', tag]
                if group:
                    args += ['--group', group]
                self.tag_tokens[key] = json.loads(self.otactl(*args, token='operator'))['token']
            enrollment = self.tag_tokens[key]
        device_key = device_signing.DeviceKey(self.root)
        self.ok('POST', '/api/v1/device/register', device_key.registration(device_id, hardware, enrollment, attributes))
        session = self.ok('POST', '/api/v1/device/session', {'device_id': device_id, 'proof': device_key.proof('ota-session-v1', device_id)})
        self.devices[device_id] = (session['session_id'], base64.b64decode(session['session_key']))

    def checkin(self, device_id, installed, features=None, trust=None):
        body = {'installed': [{'name': n, 'version': v, 'digest': self.bundles[(n, v)]['digest'], 'state': 'committed'}
                              for (n, v) in installed]}
        if features:
            body['features'] = features
        if trust:
            body['trust'] = trust
        return self.ok('POST', '/api/v1/device/checkin', body, device=device_id)

    def events(self, device_id, events):
        body = {'events': [dict(e, at=e.get('at') or now_rfc3339()) for e in events]}
        return self.ok('POST', '/api/v1/device/events', body, device=device_id)

    @staticmethod
    def phase_counts(phase_of, state_of):
        """{phase index: {state: count}} for the devices the seed moved."""
        counts = {}
        for device_id, phase in phase_of.items():
            state = state_of[device_id]
            counts.setdefault(phase, {}).setdefault(state, 0)
            counts[phase][state] += 1
        return counts

    def seed(self):
        fd_meta = ['framework=onnx', 'quantization=int8', 'metrics.top1=0.912', 'metrics.latency_ms=11.5',
                   'metrics.dataset=coco-2017', 'input.shape=[1,3,320,320]', 'trained_by=' + XSS_SCRIPT]
        self.publish('face-detector', '1.0.0', 'model', ['rpi4-aarch64', 'jetson-orin'],
                     ['framework=onnx', 'quantization=fp16', 'metrics.top1=0.884'], {'model.onnx': 'weights v1\n' * 200, 'labels.txt': 'face\n'})
        self.publish('face-detector', '1.1.0', 'model', ['rpi4-aarch64', 'jetson-orin'], fd_meta,
                     {'model.onnx': 'weights v1.1\n' * 300, 'labels.txt': 'face\n'})
        self.publish('edge-firmware', '2.3.0', 'firmware', ['jetson-orin', 'ipc-x86_64'],
                     ['build=2026.11.3', 'secure_boot=true'], {'firmware.bin': 'fw 2.3.0\n' * 500})
        self.publish('edge-firmware', '2.4.0', 'firmware', ['jetson-orin', 'ipc-x86_64'],
                     ['build=2026.11.20', 'secure_boot=true'], {'firmware.bin': 'fw 2.4.0\n' * 520})

        created = json.loads(self.otactl('enroll-token', 'create', '--name', 'dashboard-test', '--max-uses', '1000', '--auto-accept', '--json', token='operator'))
        enrollment = created['token']
        lab = json.loads(self.otactl('enroll-token', 'create', '--name', 'lab', '--group', 'lab-berlin', '--max-uses', '1000', '--auto-accept', '--json', token='operator'))['token']

        # 24 devices (14 rpi4, 6 jetson, 4 ipc) and one with markup in its attributes; three never check in.
        fleet = []
        for i in range(1, 15):
            fleet.append((f'cam-{i:03d}', 'rpi4-aarch64', ['lobby'] if i <= 7 else ['dock']))
        for i in range(1, 7):
            fleet.append((f'jetson-{i:02d}', 'jetson-orin', ['lab']))
        for i in range(1, 5):
            fleet.append((f'ipc-{i:02d}', 'ipc-x86_64', ['plant']))
        for device_id, hardware, tags in fleet:
            self.register(lab if hardware == 'jetson-orin' else enrollment, device_id, hardware, {'site': 'berlin', 'os': 'debian-12'}, tags,
                          group='lab-berlin' if hardware == 'jetson-orin' else None)
        self.register(enrollment, XSS_DEVICE, 'rpi4-aarch64', {'note': XSS_IMG, 'location': XSS_SCRIPT}, ['lobby'])

        silent = {'cam-012', 'cam-013', 'cam-014'}
        for device_id, hardware, _ in fleet:
            if device_id in silent:
                continue
            installed = []
            if hardware in ('rpi4-aarch64', 'jetson-orin'):
                installed.append(('face-detector', '1.0.0'))
            if hardware in ('jetson-orin', 'ipc-x86_64'):
                installed.append(('edge-firmware', '2.3.0'))
            self.checkin(device_id, installed)
        self.checkin(XSS_DEVICE, [('face-detector', '1.0.0')])
        # One device whose release metadata expired: the dashboard shows its trust as stale.
        self.checkin('ipc-02', [('edge-firmware', '2.3.0')], trust={
            'root_version': 2, 'targets_version': 7, 'targets_expires': now_rfc3339(-3600), 'channel': 'stable',
            'verified_at': now_rfc3339(-60), 'problem': STALE_PROBLEM})

        # A finished firmware rollout: every device that took it succeeded.
        fw = json.loads(self.otactl('deployments', 'create', 'edge-firmware', '2.4.0', '--all', '--json', token='operator'))
        self.deployments['firmware'] = fw['id']
        for device_id, hardware, _ in fleet:
            if hardware == 'ipc-x86_64':
                answer = self.checkin(device_id, [('edge-firmware', '2.3.0')])
                assert any(a['deployment_id'] == fw['id'] for a in answer['assignments']), answer
                self.events(device_id, [
                    {'deployment_id': fw['id'], 'bundle_name': 'edge-firmware', 'version': '2.4.0', 'state': 'downloading', 'detail': ''},
                    {'deployment_id': fw['id'], 'bundle_name': 'edge-firmware', 'version': '2.4.0', 'state': 'downloaded', 'detail': 'fetched 1200 of 4500 bytes',
                     'transfer': {'fetched_bytes': 1200, 'total_bytes': 4500}},
                    {'deployment_id': fw['id'], 'bundle_name': 'edge-firmware', 'version': '2.4.0', 'state': 'succeeded', 'detail': 'health check passed'}])
                self.checkin(device_id, [('edge-firmware', '2.4.0')])

        # The model rollout: a canary phase (two named devices), then half the fleet, then all.
        dep = json.loads(self.otactl('deployments', 'create', 'face-detector', '1.1.0', '--all', '--canary-devices', f'{XSS_DEVICE},cam-001',
                                     '--phases', '50%,100%', '--json', token='operator'))
        self.deployments['model'] = dep['id']
        fd = {'deployment_id': dep['id'], 'bundle_name': 'face-detector', 'version': '1.1.0'}
        for device_id in (XSS_DEVICE, 'cam-001'):
            answer = self.checkin(device_id, [('face-detector', '1.0.0')])
            assert any(a['deployment_id'] == dep['id'] for a in answer['assignments']), answer
        self.events('cam-001', [dict(fd, state='downloading', detail=''), dict(fd, state='succeeded', detail='health check passed')])
        self.checkin('cam-001', [('face-detector', '1.1.0')])
        self.events(XSS_DEVICE, [dict(fd, state='downloading', detail='start ' + XSS_IMG),
                                 dict(fd, state='failed', detail=XSS_SCRIPT)])
        self.ok('POST', f'/api/v1/deployments/{dep["id"]}/advance', {'reason': 'canary looks fine'}, token=self.tokens['operator'])
        # Which devices fall into the 50% share depends on a hash of the (random) rollout id:
        # if too few do, widen to the next phase, as an operator would.
        candidates = [d for d, h, _ in fleet if h != 'ipc-x86_64' and d not in silent and d != 'cam-001']
        assigned, phase_of = [], {XSS_DEVICE: 0, 'cam-001': 0}

        def firmware(device_id):
            return [('edge-firmware', '2.3.0')] if device_id.startswith('jetson') else []

        def admit(devices, phase):
            for device_id in devices:
                answer = self.checkin(device_id, [('face-detector', '1.0.0')] + firmware(device_id))
                if any(a['deployment_id'] == dep['id'] for a in answer['assignments']):
                    assigned.append(device_id)
                    phase_of[device_id] = phase

        admit(candidates, 1)
        current_phase = 1
        if len(assigned) < self.MIN_FIRST_SHARE:
            self.ok('POST', f'/api/v1/deployments/{dep["id"]}/advance', {'reason': 'too few devices in the first share'}, token=self.tokens['operator'])
            admit([d for d in candidates if d not in assigned], 2)
            current_phase = 2
        succeeded, failed, rolled_back, downloading = assigned[:2], assigned[2:3], assigned[3:4], assigned[4:]
        for device_id in succeeded:
            self.events(device_id, [dict(fd, state='downloading', detail=''), dict(fd, state='installing', detail=''),
                                    dict(fd, state='succeeded', detail='health check passed')])
            # A device that took the model still runs its firmware (which devices these are depends on the random rollout id).
            self.checkin(device_id, [('face-detector', '1.1.0')] + firmware(device_id))
        for device_id in failed:
            self.events(device_id, [dict(fd, state='downloading', detail=''), dict(fd, state='failed', detail='health check failed: top1 0.41 below 0.85')])
        for device_id in rolled_back:
            self.events(device_id, [dict(fd, state='installing', detail=''), dict(fd, state='rolled-back', detail='reload hook exited 3')])
        for device_id in downloading:
            self.events(device_id, [dict(fd, state='downloading', detail='fetching 2 files')])

        # A third, paused rollout with a reason, so paused states show too.
        paused = json.loads(self.otactl('deployments', 'create', 'edge-firmware', '2.4.0', '--tag', 'lab', '--json', token='operator'))
        self.deployments['paused'] = paused['id']
        self.ok('POST', f'/api/v1/deployments/{paused["id"]}/pause', {'reason': 'waiting for the lab maintenance window'}, token=self.tokens['operator'])

        # A model rollout with a shadow phase on two plant PCs: both ran the candidate beside the
        # live model; the median latency fails its gate, so the rollout paused with the figures.
        self.publish('anomaly-net', '1.0.0', 'model', ['ipc-x86_64'], [], {'model.onnx': 'anomaly v1'})
        self.publish('anomaly-net', '1.1.0', 'model', ['ipc-x86_64'], [], {'model.onnx': 'anomaly v1.1'})
        shadow = json.loads(self.otactl('deployments', 'create', 'anomaly-net', '1.1.0', '--devices', 'ipc-01,ipc-02', '--shadow',
                                        '--gate', 'agreement>=0.97', '--gate', 'latency_p95<=1.5x', '--gate-min-devices', '2', '--json',
                                        token='operator'))
        self.deployments['shadow'] = shadow['id']
        an = {'deployment_id': shadow['id'], 'bundle_name': 'anomaly-net', 'version': '1.1.0'}
        for device_id, agreement, p95, runs in (('ipc-01', 0.99, 1.1, '1.1.0'), ('ipc-02', 0.98, 3.0, '1.0.0')):
            running = [(b['name'], b['version']) for b in self.ok('GET', f'/api/v1/devices/{device_id}', token=self.tokens['viewer'])['device']['installed']]
            answer = self.checkin(device_id, running + [('anomaly-net', '1.0.0')], features=['shadow'])
            assert any(a['deployment_id'] == shadow['id'] for a in answer['assignments']), answer
            figures = lambda p95_ms: {'latency_p50_ms': p95_ms / 2, 'latency_p95_ms': p95_ms, 'confidence': 0.9, 'errors': 0}
            report = {'shadow_id': 'seed', 'samples': 400, 'agreement': agreement, 'live': figures(1.0), 'candidate': figures(p95)}
            passed = p95 <= 1.5
            gates = [{'gate': 'agreement>=0.97', 'value': agreement, 'passed': True}, {'gate': 'latency_p95<=1.5x', 'value': p95, 'passed': passed}]
            self.events(device_id, [dict(an, state='downloading', detail=''), dict(an, state='shadow', detail='running in shadow'),
                                    dict(an, state='succeeded' if passed else 'failed',
                                         detail='committed' if passed else f'stopped in shadow after 400 samples: latency_p95 {p95}x > 1.5x',
                                         shadow={'passed': passed, 'report': report, 'gates': gates})])
            self.checkin(device_id, running + [('anomaly-net', runs)], features=['shadow'])
            digest = self.bundles[('anomaly-net', runs)]['digest']
            self.ok('POST', '/api/v1/device/metrics', {'metrics': [{'bundle_name': 'anomaly-net', 'version': runs, 'digest': digest, 'at': now_rfc3339(),
                    'report': {'samples': 1000, 'latency_p50_ms': 0.5, 'latency_p95_ms': 1.2 if runs == '1.1.0' else 1.0, 'errors': 0}}]}, device=device_id)

        time.sleep(1.2)  # let the server flush batched check-ins
        # Three devices were last seen 3 days ago, two more 2 hours ago.
        aged = {'cam-012': 3 * 86400, 'cam-013': 3 * 86400 + 600, 'cam-014': 4 * 86400, 'cam-010': 7200, 'ipc-04': 7300}
        self.age_devices(aged)
        self.expect = {
            'devices': len(fleet) + 1,
            'silent_1h': len(aged),
            'silent_1d': 3,
            'assigned': assigned,
            'model_counts': {'succeeded': len(succeeded) + 1, 'failed': len(failed) + 1, 'rolled_back': len(rolled_back),
                             'downloading': len(downloading)},
            'model_current_phase': current_phase,
            'model_phases': self.phase_counts(phase_of, {XSS_DEVICE: 'failed', 'cam-001': 'succeeded',
                                                         **{d: 'succeeded' for d in succeeded}, **{d: 'failed' for d in failed},
                                                         **{d: 'rolled_back' for d in rolled_back}, **{d: 'downloading' for d in downloading}}),
            'by_hardware': {'rpi4-aarch64': 15, 'jetson-orin': 6, 'ipc-x86_64': 4},
        }
        return self


def binaries_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get('OTA_BIN') or os.path.join(here, '..', '..', '.build', 'debug')


if __name__ == '__main__':
    # Manual use: python3 Tests/Dashboard/seed.py DIR  -> seeds and keeps serving until Ctrl-C.
    root = sys.argv[1]
    os.makedirs(root, exist_ok=True)
    seeded = Seeded(root, binaries_dir())
    try:
        seeded.start().seed()
    except BaseException:
        seeded.stop()
        raise
    print(json.dumps({'url': seeded.url, 'tokens': seeded.tokens, 'deployments': seeded.deployments, 'expect': seeded.expect}, indent=1), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        seeded.stop()
