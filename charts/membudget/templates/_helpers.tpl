{{- define "membudget.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "membudget.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "membudget.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "membudget.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "membudget.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ include "membudget.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "membudget.selectorLabels" -}}
app.kubernetes.io/name: {{ include "membudget.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "membudget.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{- define "membudget.webhookService" -}}
{{ include "membudget.fullname" . }}-webhook
{{- end -}}

{{- define "membudget.tlsSecret" -}}
{{ include "membudget.fullname" . }}-webhook-tls
{{- end -}}

{{/* The webhook configurations' name. The API server calls mutating webhook
configurations in the order of their names, so membudget's sorts before the
common sidecar injectors' (istio-sidecar-injector, linkerd-proxy-injector-...,
vault-agent-injector-cfg...): it sees the pod as its author wrote it, pins the
target container by name, and is called again (reinvocationPolicy: IfNeeded)
after an injector puts its proxy in front. */}}
{{- define "membudget.webhookConfiguration" -}}
{{- default (printf "00-%s" (include "membudget.fullname" .)) .Values.webhook.configurationName | trunc 63 | trimSuffix "-" -}}
{{- end -}}
