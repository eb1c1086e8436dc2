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

{{- define "portal.worker.enabled" -}}
{{- include "portal.enabled" (dict "value" .Values.worker.enabled "key" "worker" "ctx" .) }}
{{- end }}

{{- define "portal.monitors.enabled" -}}
{{- include "portal.enabled" (dict "value" .Values.monitors.enabled "key" "monitors" "ctx" .) }}
{{- end }}

{{/*
"true" when the prune CronJob is rendered: prune.enabled, and a module with something to prune
(sos keeps its history).
*/}}
{{- define "portal.prune.enabled" -}}
{{- if and .Values.prune.enabled (ne .Values.module "sos") }}true{{ end }}
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
Resources the pre-install migration Job needs exist before Helm creates the release's
ordinary resources: they are hooks too, created first (weight -10), kept (no hook-succeeded
delete) and replaced on every upgrade and rollback. `helm uninstall` leaves them; ops/README.md
says how to remove them.
*/}}
{{- define "portal.preHookAnnotations" -}}
{{- if .Values.migrations.enabled }}
helm.sh/hook: pre-install,pre-upgrade,pre-rollback
helm.sh/hook-weight: "-10"
helm.sh/hook-delete-policy: before-hook-creation
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
Pod-level parts shared by every Portal pod. Pass (dict "ctx" $ "icmp" true|false).
*/}}
{{- define "portal.podSpecCommon" -}}
{{- $ctx := .ctx }}
{{- with $ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
serviceAccountName: {{ include "portal.serviceAccountName" $ctx }}
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
{{- end }}

{{- define "portal.tmpVolume" -}}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end }}
