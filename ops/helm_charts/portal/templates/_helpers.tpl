{{/*
Expand the name of the chart.
*/}}
{{- define "portal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated at 63 characters (DNS names). A release name that
contains the chart name is used as is: release "portal-netprobe" -> "portal-netprobe", the
name the raw manifests in ops/kubernetes_orchestration use.
*/}}
{{- define "portal.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version as used by the chart label.
*/}}
{{- define "portal.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "portal.labels" -}}
helm.sh/chart: {{ include "portal.chart" . }}
{{ include "portal.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: portal
{{- end }}

{{/*
Selector labels (every pod of the release carries them; the NetworkPolicy selects on them).
*/}}
{{- define "portal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component: pass (dict "ctx" $ "component" "web").
*/}}
{{- define "portal.componentLabels" -}}
{{ include "portal.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "portal.componentSelectorLabels" -}}
{{ include "portal.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The service account pods run as.
*/}}
{{- define "portal.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portal.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The module's defaults (values.moduleDefaults.<module>).
*/}}
{{- define "portal.preset" -}}
{{- toYaml (index .Values.moduleDefaults .Values.module) }}
{{- end }}

{{/*
PORTAL_MODULES for the release's module.
*/}}
{{- define "portal.portalModules" -}}
{{- if eq .Values.module "all" }}netprobe,sos,faces{{ else }}{{ .Values.module }}{{ end }}
{{- end }}

{{/*
"true" when a feature is on: its value is true, or "auto" and the module's default is true.
Pass (dict "value" .Values.worker.enabled "key" "worker" "ctx" $).
*/}}
{{- define "portal.enabled" -}}
{{- $preset := include "portal.preset" .ctx | fromYaml }}
{{- if eq (toString .value) "auto" }}
{{- if index $preset .key }}true{{ end }}
{{- else if .value }}true{{ end }}
{{- end }}

{{/*
"true" for a vantage release (role: vantage): NetProbe's signed endpoint only, no database.
*/}}
{{- define "portal.vantage" -}}
{{- if eq .Values.role "vantage" }}
{{- if ne .Values.module "netprobe" }}
{{- fail "role vantage serves NetProbe only: set module: netprobe" }}
{{- end }}true
{{- end }}
{{- end }}

{{- define "portal.worker.enabled" -}}
{{- if not (include "portal.vantage" .) }}
{{- include "portal.enabled" (dict "value" .Values.worker.enabled "key" "worker" "ctx" .) }}
{{- end }}
{{- end }}

{{- define "portal.monitors.enabled" -}}
{{- if not (include "portal.vantage" .) }}
{{- include "portal.enabled" (dict "value" .Values.monitors.enabled "key" "monitors" "ctx" .) }}
{{- end }}
{{- end }}

{{/*
"true" when the prune CronJob is rendered: prune.enabled, and not a vantage (which stores
nothing).
*/}}
{{- define "portal.prune.enabled" -}}
{{- if and .Values.prune.enabled (not (include "portal.vantage" .)) }}true{{ end }}
{{- end }}

{{- define "portal.icmp.enabled" -}}
{{- include "portal.enabled" (dict "value" .Values.icmp.enabled "key" "icmp" "ctx" .) }}
{{- end }}

{{/*
Web container resources: values.resources, or the module's default.
*/}}
{{- define "portal.webResources" -}}
{{- $preset := include "portal.preset" . | fromYaml }}
{{- toYaml (.Values.resources | default $preset.resources) }}
{{- end }}

{{/*
The image reference: repository@digest, or repository:tag (tag defaults to appVersion).
*/}}
{{- define "portal.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The Secret with SECRET_KEY, DATABASE_URL, ...
*/}}
{{- define "portal.secretName" -}}
{{- default (include "portal.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/*
The non-secret settings (portal/settings.py reads each from the environment), as a map: the
ConfigMap's data, and the env of the migration Job, which runs before the ConfigMap of the same
upgrade is applied (README.md, "Upgrades and migrations").
*/}}
{{- define "portal.configData" -}}
{{- $preset := include "portal.preset" . | fromYaml -}}
{{- $fullname := include "portal.fullname" . -}}
{{- $hosts := list -}}
{{- $origins := list -}}
{{- range (include "portal.publicHosts" . | fromYamlArray) }}
{{- $hosts = append $hosts . }}
{{- $origins = append $origins (printf "https://%s" .) }}
{{- end }}
{{- $hosts = concat $hosts .Values.config.allowedHosts (list $fullname (printf "%s.%s.svc" $fullname .Release.Namespace) "localhost") | uniq }}
{{- $origins = concat $origins .Values.config.csrfTrustedOrigins | uniq }}
{{- $data := dict
  "PORTAL_MODULES" (include "portal.portalModules" .)
  "DEBUG" "false"
  "ALLOWED_HOSTS" (join "," $hosts)
  "CSRF_TRUSTED_ORIGINS" (join "," $origins)
  "SECURE_PROXY_SSL_HEADER" (.Values.config.secureProxySslHeader | toString)
  "SECURE_SSL_REDIRECT" (.Values.config.secureSslRedirect | toString)
  "SECURE_HSTS_SECONDS" (.Values.config.secureHstsSeconds | int | toString)
  "FORWARDED_ALLOW_IPS" (.Values.config.forwardedAllowIps | toString)
  "CACHE_URL" (.Values.config.cacheUrl | toString)
  "LOG_FORMAT" (.Values.config.logFormat | toString)
  "LOG_LEVEL" (.Values.config.logLevel | toString)
  "EGRESS_ALLOWED_NETWORKS" (join "," .Values.config.egressAllowedNetworks)
  "USE_S3_STORAGE" (.Values.config.useS3Storage | toString)
  "GUNICORN_WORKERS" (.Values.gunicorn.workers | default $preset.gunicorn.workers | int | toString)
  "GUNICORN_THREADS" (.Values.gunicorn.threads | default $preset.gunicorn.threads | int | toString)
  "GUNICORN_GRACEFUL_TIMEOUT" (.Values.gunicorn.gracefulTimeout | int | toString)
}}
{{- if .Values.config.useS3Storage }}
{{- $_ := set $data "AWS_STORAGE_BUCKET_NAME" (.Values.config.storageBucketName | toString) }}
{{- $_ := set $data "AWS_MEDIA_BUCKET_NAME" (.Values.config.mediaBucketName | default .Values.config.storageBucketName | toString) }}
{{- end }}
{{- if has .Values.module (list "faces" "all") }}
{{- $_ := set $data "FACES_STORE_IMAGES" (.Values.config.facesStoreImages | toString) }}
{{- with .Values.config.facesKmsKeyId }}
{{- $_ := set $data "FACES_KMS_KEY_ID" (toString .) }}
{{- end }}
{{- end }}
{{- if has .Values.module (list "sos" "all") }}
{{- $_ := set $data "SOS_LEASE_S" (.Values.worker.leaseSeconds | int | toString) }}
{{- end }}
{{- if has .Values.module (list "netprobe" "all") }}
{{- /* The monitors CronJob runs the due monitors; without it the web pods' thread does. */}}
{{- $_ := set $data "NETPROBE_SCHEDULER" (ternary "off" "thread" (include "portal.monitors.enabled" . | eq "true")) }}
{{- end }}
{{- if include "portal.vantage" . }}
{{- $_ := set $data "NETPROBE_ROLE" "vantage" }}
{{- $_ := set $data "NETPROBE_SCHEDULER" "off" }}
{{- /* Nothing of a vantage reaches a database: a db:// cache would need one. */}}
{{- if hasPrefix "db://" $data.CACHE_URL }}
{{- $_ := set $data "CACHE_URL" "locmem://" }}
{{- end }}
{{- /* Replays are remembered in the cache: a locmem:// one only in its own process. */}}
{{- if not (regexMatch "^rediss?://" $data.CACHE_URL) }}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) (gt (int $data.GUNICORN_WORKERS) 1) }}
{{- fail "role vantage: several pods or gunicorn workers each remember replays on their own with a locmem:// cache; set config.cacheUrl to a shared redis:// (or run one process: replicaCount 1, autoscaling.enabled false, gunicorn.workers 1)" }}
{{- end }}
{{- $_ := set $data "NETPROBE_VANTAGE_REPLAY_STORE" "process" }}
{{- end }}
{{- end }}
{{- with .Values.aws.region }}
{{- $_ := set $data "AWS_REGION" . }}
{{- $_ := set $data "AWS_DEFAULT_REGION" . }}
{{- end }}
{{- range $key, $value := .Values.config.extra }}
{{- $_ := set $data $key ($value | toString) }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/*
The public host names: the Ingress hosts or the HTTPRoute hostnames, whichever is on.
*/}}
{{- define "portal.publicHosts" -}}
{{- $hosts := list }}
{{- if .Values.ingress.enabled }}
{{- range .Values.ingress.hosts }}
{{- $hosts = append $hosts .host }}
{{- end }}
{{- end }}
{{- if .Values.httpRoute.enabled }}
{{- $hosts = concat $hosts .Values.httpRoute.hostnames }}
{{- end }}
{{- toYaml ($hosts | uniq) }}
{{- end }}

{{/*
The env block of a Portal container: the given entries, then extraEnv (later entries win).
Pass (dict "ctx" $ "env" (list ...)); renders nothing when both are empty.
*/}}
{{- define "portal.env" -}}
{{- $env := concat (.env | default list) .ctx.Values.extraEnv -}}
{{- with $env -}}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
checkov skips shared by every workload, each with its reason.
*/}}
{{- define "portal.checkovSkips" -}}
checkov.io/skip1: CKV_K8S_43=release tags are immutable in ECR (imageTagMutability IMMUTABLE); image.digest pins a digest when the pipeline provides one
checkov.io/skip2: CKV_K8S_15=with immutable tags IfNotPresent is exact and saves a registry round-trip per pod start
checkov.io/skip3: CKV_K8S_35=Django reads its settings from the environment (12-factor); the Secret is synced from AWS Secrets Manager and never written to the image or the values
{{- end }}

{{/*
Pod-level parts shared by every Portal pod. Pass (dict "ctx" $ "icmp" true|false), and
"serviceAccountName" to run as another account than the release's.
*/}}
{{- define "portal.podSpecCommon" -}}
{{- $ctx := .ctx }}
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
serviceAccountName: {{ .serviceAccountName | default (include "portal.serviceAccountName" $ctx) }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with $ctx.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml $ctx.Values.podSecurityContext | nindent 2 }}
  {{- if .icmp }}
  sysctls:
    # Unprivileged ICMP echo sockets for the pod's group: NetProbe's ping works without
    # CAP_NET_RAW. A namespaced sysctl, allowed by the restricted Pod Security Standard.
    - name: net.ipv4.ping_group_range
      {{- $gid := int $ctx.Values.podSecurityContext.runAsGroup }}
      value: {{ printf "%d %d" $gid $gid | quote }}
  {{- end }}
{{- with $ctx.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Container-level parts shared by every Portal container running the app.
*/}}
{{- define "portal.containerCommon" -}}
image: {{ include "portal.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
{{- end }}

{{- define "portal.envFrom" -}}
envFrom:
  - configMapRef:
      name: {{ include "portal.fullname" . }}
  - secretRef:
      name: {{ include "portal.secretName" . }}
{{- end }}

{{- define "portal.containerSecurity" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- with .Values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{- define "portal.tmpVolume" -}}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
  {{- with .Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/*
The worker's liveness limit: the lease the worker gets (SOS_LEASE_S as the ConfigMap renders it,
config.extra included, or as extraEnv sets it, which wins in the container) plus
worker.heartbeat.graceSeconds, so a raised lease raises it.
*/}}
{{- define "portal.worker.heartbeatMaxAge" -}}
{{- $lease := get (include "portal.configData" . | fromYaml) "SOS_LEASE_S" | default .Values.worker.leaseSeconds -}}
{{- range .Values.extraEnv }}
{{- if and (eq .name "SOS_LEASE_S") .value }}{{ $lease = .value }}{{ end }}
{{- end }}
{{- add ($lease | int) .Values.worker.heartbeat.graceSeconds -}}
{{- end }}

{{/*
The work due now, for KEDA's PostgreSQL scaler (worker-keda.yaml): the deliveries claim_due and
requeue_expired_leases (modules/sos/outbox/claims.py) would take (the claim has no join on the
alert: a due row of an alert closed meanwhile is claimed and cancelled, work too), plus the open
alerts whose reminder or escalation step is due (alerts_escalate_due,
modules/sos/outbox/escalation.py), which re-queue deliveries only once a worker runs. The
querysets in modules/sos/models.py (work_due, escalation_due) define these rows;
tests/ops/test_keda_query.py holds this SQL to them.
*/}}
{{- define "portal.worker.dueQuery" -}}
SELECT (SELECT COUNT(*) FROM sos_delivery WHERE (state = 'pending' AND next_attempt_at <= NOW()) OR (state = 'sending' AND lease_until <= NOW())) + (SELECT COUNT(*) FROM sos_alert WHERE status = 'open' AND ((escalation_status = '' AND require_ack AND next_reminder_at <= NOW()) OR (escalation_status = 'active' AND next_escalation_at <= NOW())))
{{- end }}

{{/*
Annotations that let Helm adopt an object applied before the first install (the ExternalSecret
and its SecretStore: the migration hook needs their Secret).
*/}}
{{- define "portal.adoptable" -}}
meta.helm.sh/release-name: {{ .Release.Name }}
meta.helm.sh/release-namespace: {{ .Release.Namespace }}
{{- end }}

{{/*
The readiness probe: /readyz (database, migrations) on a hub, /healthz on a vantage (no database,
and /readyz is not served there).
*/}}
{{- define "portal.readinessProbe" -}}
{{- $probe := deepCopy (.Values.readinessProbe | default dict) }}
{{- if and (include "portal.vantage" .) $probe.httpGet }}
{{- $_ := set $probe.httpGet "path" "/healthz" }}
{{- end }}
{{- with $probe }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
The paths a vantage's Ingress routes: the signed endpoint and /healthz, nothing else.
*/}}
{{- define "portal.vantagePaths" -}}
- path: /vantage/v1/
  pathType: Prefix
- path: /healthz
  pathType: Exact
{{- end }}
