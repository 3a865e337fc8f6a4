{{/* Names as VEBA's chart has them: the release-scoped name, its labels, the selector labels. */}}
{{- define "router.name" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- default .Release.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "router.matchLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "router.labels" -}}
{{ include "router.matchLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "router.serviceAccountName" -}}
{{- default (include "router.name" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "router.stateDir" -}}/var/lib/event-router{{- end -}}
{{- define "router.scriptsDir" -}}/etc/event-router/scripts{{- end -}}
{{- define "router.consoleSocket" -}}/run/event-router/console.sock{{- end -}}

{{/* Checkpoints are ours to keep when the provider has them (vCenter, Horizon). */}}
{{- define "router.checkpoint" -}}
checkpoint: {{ .Values.eventrouter.checkpoint }}
checkpointDir: {{ include "router.stateDir" . }}/checkpoints
{{- end -}}

{{/* The RouterConfig, in VEBA's shape. Every string is quoted so a password with YAML syntax in it
     stays a string. */}}
{{- define "router.config" -}}
{{- $er := .Values.eventrouter -}}
apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: {{ include "router.name" . }}-{{ $er.config.name }}
  labels:
{{ include "router.matchLabels" . | indent 4 }}
eventProvider:
  type: {{ $er.eventProvider }}
  name: {{ .Release.Name }}-{{ $er.eventProvider }}
  {{- if eq $er.eventProvider "vcenter" }}
  vcenter:
    {{- with $er.vcenter }}
    address: {{ .address | quote }}
    insecureSSL: {{ .insecure }}
{{ include "router.checkpoint" $ | indent 4 }}
    auth:
      type: basic_auth
      basicAuth:
        username: {{ .username | quote }}
        password: {{ .password | quote }}
    {{- end }}
  {{- else if eq $er.eventProvider "webhook" }}
  webhook:
    {{- with $er.webhook }}
    bindAddress: "0.0.0.0:{{ .port }}"
    path: {{ .path | quote }}
    {{- if .username }}
    auth:
      type: basic_auth
      basicAuth:
        username: {{ .username | quote }}
        password: {{ .password | quote }}
    {{- end }}
    {{- end }}
  {{- else if eq $er.eventProvider "horizon" }}
  horizon:
    {{- with $er.horizon }}
    address: {{ .address | quote }}
    insecureSSL: {{ .insecure }}
{{ include "router.checkpoint" $ | indent 4 }}
    auth:
      type: active_directory
      activeDirectoryAuth:
        domain: {{ .domain | quote }}
        username: {{ .username | quote }}
        password: {{ .password | quote }}
    {{- end }}
  {{- else }}
  {{- fail (printf "eventrouter.eventProvider must be vcenter, webhook or horizon, not %q" $er.eventProvider) }}
  {{- end }}
eventProcessor:
  type: {{ $er.eventProcessor }}
  name: {{ .Release.Name }}-{{ $er.eventProcessor }}
  {{- if eq $er.eventProcessor "openfaas" }}
  openfaas:
    {{- with $er.openfaas }}
    address: {{ .address | quote }}
    async: {{ .async }}
    {{- if .basicAuth }}
    auth:
      type: basic_auth
      basicAuth:
        username: {{ .username | quote }}
        password: {{ .password | quote }}
    {{- end }}
    {{- end }}
  {{- else if eq $er.eventProcessor "knative" }}
  knative:
    {{- with $er.knative }}
    encoding: {{ .encoding }}
    insecureSSL: {{ .insecureSSL }}
    destination:
{{ toYaml .destination | indent 6 }}
    {{- end }}
  {{- else if eq $er.eventProcessor "aws_event_bridge" }}
  awsEventBridge:
    {{- with $er.awsEventBridge }}
    eventBus: {{ .eventBus | quote }}
    region: {{ .region | quote }}
    ruleARN: {{ .ruleARN | quote }}
    {{- if eq .authType "aws_iam_role" }}
    auth:
      type: aws_iam_role
    {{- else }}
    auth:
      type: aws_access_key
      awsAccessKeyAuth:
        accessKey: {{ .accessKey | quote }}
        secretKey: {{ .secretKey | quote }}
    {{- end }}
    {{- end }}
  {{- else }}
  {{- fail (printf "eventrouter.eventProcessor must be openfaas, knative or aws_event_bridge, not %q" $er.eventProcessor) }}
  {{- end }}
metricsProvider:
  type: default
  name: {{ .Release.Name }}-metrics
  default:
    bindAddress: "0.0.0.0:{{ $er.metrics.port }}"
deadLetter:
  dir: {{ include "router.stateDir" . }}/deadletter
queue:
  type: {{ $er.queue.type }}
  {{- if eq $er.queue.type "disk" }}
  dir: {{ include "router.stateDir" . }}/queue
  {{- end }}
  maxBytes: {{ $er.queue.maxBytes }}
{{- if $er.scripts }}
scripts:
  dir: {{ include "router.scriptsDir" . }}
{{- with $er.scriptLimits }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- end }}
{{- if $er.console.enabled }}
console:
  socket: {{ include "router.consoleSocket" . }}
{{- end }}
{{- if $er.leaderElection.enabled }}
leaderElection:
  leaseName: {{ .Release.Name }}
  leaseNamespace: {{ .Release.Namespace }}
checkpointStore:
  type: configmap
  name: {{ .Release.Name }}-checkpoints
{{- end }}
{{- end -}}
