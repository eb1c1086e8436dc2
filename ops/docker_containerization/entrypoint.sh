#!/bin/sh
# Portal container entrypoint: one image, several modes.
#
#   web       gunicorn serving portal.wsgi:application (Kubernetes Deployment; the image's CMD)
#   worker    the SOS_Broadcast delivery worker loop (Kubernetes Deployment of the sos module)
#   monitors  one run of the due NetProbe monitors (Kubernetes CronJob)
#   prune     the daily retention clean-up of the modules PORTAL_MODULES enables (all when it is
#             unset): netprobe_prune for netprobe, faces_prune for faces, sos_prune for sos
#             (its inbound reply log only: alerts are its history and stay) (Kubernetes
#             CronJob; on Lambda portal.lambda_tasks.prune does the same)
#   migrate   database migrations, then the cache table (Kubernetes Job / Helm hook)
#   lambda    Zappa's handler under the Lambda runtime interface; chosen automatically when
#             AWS_LAMBDA_RUNTIME_API is set (on Lambda), or explicitly to run the image locally
#             under the runtime interface emulator that the base image ships
#   anything else is executed as given, e.g. `python3 manage.py shell`
#
# Extra arguments after worker, monitors and migrate go to the management command; prune takes
# none (the prune commands have different options; the retention comes from
# NETPROBE_RETENTION_DAYS, FACES_RETENTION_DAYS and SOS_INBOUND_RETENTION_DAYS).
#
# Environment (defaults in brackets):
#   APP_DIR                   the project root [the directory two levels above this script]
#   PYTHON                    interpreter [APP_DIR/.venv/bin/python if present, else python3]
#   PORT, BIND_ADDRESS        where gunicorn listens [8000, 0.0.0.0]
#   GUNICORN_WORKERS          worker processes [2]
#   GUNICORN_THREADS          threads per worker [4]
#   GUNICORN_TIMEOUT          seconds before a silent worker is restarted [60]
#   GUNICORN_GRACEFUL_TIMEOUT seconds in-flight requests get after SIGTERM [25]
#   GUNICORN_KEEPALIVE        idle keep-alive seconds [75]
#   GUNICORN_MAX_REQUESTS     requests before a worker is recycled, 0 = never [1000]
#   GUNICORN_LOG_LEVEL        [info]
#   LAMBDA_HANDLER            [zappa.handler.lambda_handler]
#   LAMBDA_ENTRYPOINT         the base image's runtime launcher [/lambda-entrypoint.sh]
set -eu

script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
APP_DIR=${APP_DIR:-$(CDPATH='' cd -- "$script_dir/../.." && pwd)}
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$APP_DIR/.venv/bin/python" ]; then
    PYTHON="$APP_DIR/.venv/bin/python"
  else
    PYTHON=python3
  fi
fi
export APP_DIR

run_lambda() {
  # The base image's launcher runs the runtime interface client with the handler, or the
  # runtime interface emulator around it when AWS_LAMBDA_RUNTIME_API is unset.
  cd "$APP_DIR"
  exec "${LAMBDA_ENTRYPOINT:-/lambda-entrypoint.sh}" "${LAMBDA_HANDLER:-zappa.handler.lambda_handler}"
}

if [ -n "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  # Lambda passes the image's CMD ("web") or the function's command override: on Lambda the
  # handler is the only thing this image can run, so the mode is ignored.
  run_lambda
fi

mode=${1:-web}
if [ "$#" -gt 0 ]; then shift; fi

case "$mode" in
  web)
    cd "$APP_DIR"
    # exec: gunicorn becomes PID 1 and gets SIGTERM directly: it stops accepting, lets
    # in-flight requests finish within --graceful-timeout, then exits.
    exec "$PYTHON" -m gunicorn portal.wsgi:application \
      --chdir "$APP_DIR" \
      --bind "${BIND_ADDRESS:-0.0.0.0}:${PORT:-8000}" \
      --workers "${GUNICORN_WORKERS:-2}" \
      --threads "${GUNICORN_THREADS:-4}" \
      --timeout "${GUNICORN_TIMEOUT:-60}" \
      --graceful-timeout "${GUNICORN_GRACEFUL_TIMEOUT:-25}" \
      --keep-alive "${GUNICORN_KEEPALIVE:-75}" \
      --max-requests "${GUNICORN_MAX_REQUESTS:-1000}" \
      --max-requests-jitter "${GUNICORN_MAX_REQUESTS_JITTER:-100}" \
      --worker-tmp-dir "${GUNICORN_WORKER_TMP_DIR:-/tmp}" \
      --no-control-socket \
      --access-logfile - \
      --error-logfile - \
      --log-level "${GUNICORN_LOG_LEVEL:-info}" \
      "$@"
    ;;
  worker)
    cd "$APP_DIR"
    exec "$PYTHON" manage.py sos_worker "$@"
    ;;
  monitors)
    cd "$APP_DIR"
    exec "$PYTHON" manage.py netprobe_run_monitors "$@"
    ;;
  prune)
    if [ "$#" -gt 0 ]; then
      echo "entrypoint: prune takes no arguments (got: $*)" >&2
      exit 64
    fi
    cd "$APP_DIR"
    # Unset means every module, as in portal/settings.py.
    modules=${PORTAL_MODULES-netprobe,sos,faces}
    pruned=""
    failed=0
    set -f  # the names are split on commas and blanks, never globbed
    for module in $(printf '%s\n' "$modules" | tr ',' ' '); do
      case "$module" in
        netprobe | faces | sos) ;;
        *) continue ;;
      esac
      case " $pruned " in
        *" $module "*) continue ;;
      esac
      pruned="$pruned $module"
      echo "prune: $module (manage.py ${module}_prune)"
      # One module failing must not keep the others' data past its retention: run each, then
      # fail the Job if any failed.
      "$PYTHON" manage.py "${module}_prune" || failed=1
    done
    set +f
    if [ -z "$pruned" ]; then
      echo "prune: nothing to prune for PORTAL_MODULES=$modules"
    fi
    exit "$failed"
    ;;
  migrate)
    cd "$APP_DIR"
    "$PYTHON" manage.py migrate --noinput "$@"
    # A no-op unless CACHE_URL is db://TABLE, which needs its table before the first request.
    exec "$PYTHON" manage.py createcachetable
    ;;
  lambda)
    run_lambda
    ;;
  *)
    cd "$APP_DIR"
    exec "$mode" "$@"
    ;;
esac
