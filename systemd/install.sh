#!/usr/bin/env bash
# Installs FaceGate as an appliance on Debian 12 (run as root from a checkout):
#   - the app in $PREFIX (default /opt/facegate), owned by root; only enrolled/ and models/ writable
#     by the service user `facegate`
#   - facegate.service (the server) and, unless KIOSK=0, facegate-kiosk.service (Chromium on the
#     kiosk page in the `kiosk` user's X session)
#   - facegate-finetune.service + .timer (nightly fine-tuning on the enrolled faces), installed but
#     only enabled with FINETUNE=1 (later: systemctl enable --now facegate-finetune.timer)
# Node.js >= 20 must already be installed (Debian 12 ships 18: use NodeSource or a backport).
# See docs/appliance.md for the steps this script automates and the display/auto-login setup.
set -euo pipefail

PREFIX=${PREFIX:-/opt/facegate}
KIOSK=${KIOSK:-1}
FINETUNE=${FINETUNE:-0}
SRC=$(cd "$(dirname "$0")/.." && pwd)

[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { echo "Node.js >= 20 is required" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
pkgs=(ffmpeg fswebcam)
[ "$KIOSK" = 1 ] && pkgs+=(chromium)
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}"

id facegate >/dev/null 2>&1 || useradd --system --home-dir "$PREFIX" --shell /usr/sbin/nologin --groups video facegate
if [ "$KIOSK" = 1 ]; then
  id kiosk >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --groups video kiosk
fi

if [ "$SRC" != "$PREFIX" ]; then
  mkdir -p "$PREFIX"
  # The code, not local state: enrolled faces and trained runs stay where they are.
  tar -C "$SRC" --exclude=./node_modules --exclude=./.git --exclude=./runs --exclude=./data-prepared \
    --exclude=./test-artifacts --exclude=./tmp --exclude='./enrolled/*' -cf - . | tar -C "$PREFIX" -xf -
  # Models are copied (the shipped default model lives in models/).
fi
cd "$PREFIX"
npm ci --omit=dev --no-audit --no-fund
mkdir -p enrolled models
chown -R root:root "$PREFIX"
chown -R facegate:facegate enrolled models
chmod 0750 enrolled

install -d -m 0750 -o root -g facegate /etc/facegate
[ -f /etc/facegate/facegate.env ] || install -m 0640 -o root -g facegate systemd/facegate.env.example /etc/facegate/facegate.env

units=(facegate.service facegate-finetune.service facegate-finetune.timer)
[ "$KIOSK" = 1 ] && units+=(facegate-kiosk.service)
for u in "${units[@]}"; do
  # Units name /opt/facegate; follow PREFIX if it differs.
  sed "s|/opt/facegate|$PREFIX|g" "systemd/$u" > "/etc/systemd/system/$u"
  chmod 0644 "/etc/systemd/system/$u"
done
systemd-analyze verify "${units[@]/#//etc/systemd/system/}"
systemctl daemon-reload
systemctl enable --now facegate.service
[ "$KIOSK" = 1 ] && systemctl enable facegate-kiosk.service
[ "$FINETUNE" = 1 ] && systemctl enable --now facegate-finetune.timer

cat <<MSG
FaceGate is installed in $PREFIX and running (systemctl status facegate).
Next:
  1. Set the admin password: put FACEGATE_ADMIN_PASSWORD=... in /etc/facegate/facegate.env,
     systemctl restart facegate, then remove the line again (only its hash is kept).
  2. Open http://127.0.0.1:3000/admin on the kiosk and enroll people.
  3. Kiosk screen: enable auto-login of user 'kiosk' into X, then: systemctl start facegate-kiosk
  4. Optional nightly fine-tuning on the enrolled faces: systemctl enable --now facegate-finetune.timer
MSG
