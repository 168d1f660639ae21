{{/*
Names, labels and small values shared by the templates.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "session-connector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The base name of the release's objects (63 characters at most, a DNS label): fullnameOverride,
or the release name when it already contains the chart name, or <release>-<chart>.
*/}}
{{- define "session-connector.fullname" -}}
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

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "session-connector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object of the release. */}}
{{- define "session-connector.commonLabels" -}}
helm.sh/chart: {{ include "session-connector.chart" . }}
app.kubernetes.io/name: {{ include "session-connector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | toString | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: session-connector
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels on the manager's objects. */}}
{{- define "session-connector.labels" -}}
{{ include "session-connector.commonLabels" . }}
app.kubernetes.io/component: manager
{{- end }}

{{/* Labels that select the manager's pods (immutable in the Deployment's selector). */}}
{{- define "session-connector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "session-connector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/* The manager's ServiceAccount. */}}
{{- define "session-connector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "session-connector.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The manager's image: repository:tag, or repository@digest when a digest is set. */}}
{{- define "session-connector.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/* The proxy pods' image (SESSIONCONNECTOR_IMAGE): proxyImage, else the manager's. */}}
{{- define "session-connector.proxyImage" -}}
{{- .Values.proxyImage | default (include "session-connector.image" .) }}
{{- end }}

{{/*
Annotations of the CRDs: helm.sh/resource-policy keep (crds.keep) leaves them, and with them
every RDSCluster, SessionLauncher and Session, in place on `helm uninstall`.
*/}}
{{- define "session-connector.crdAnnotations" -}}
{{- if .Values.crds.keep -}}
helm.sh/resource-policy: keep
{{- end }}
{{- end }}

{{/* The labels: block of the CRDs. */}}
{{- define "session-connector.crdLabels" -}}
labels:
{{- include "session-connector.commonLabels" . | nindent 2 }}
{{- end }}
