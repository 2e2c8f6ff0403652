{{/* Chart name, overridable with nameOverride. */}}
{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Base name of the release's objects: the release name, or
<release>-<chart> when the release name does not already hold the chart name.
*/}}
{{- define "switchboard.fullname" -}}
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
Name of the operator's Deployment, ServiceAccount, ClusterRole and
ClusterRoleBinding: switchboard-operator for a release named switchboard,
as in config/ (kustomize).
*/}}
{{- define "switchboard.operatorName" -}}
{{- printf "%s-operator" (include "switchboard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The user name the API server gives the operator's ServiceAccount, which the
admission policies match on.
*/}}
{{- define "switchboard.operatorUsername" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "switchboard.operatorName" .) }}
{{- end }}

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator's pods; immutable once installed. */}}
{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "switchboard.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Name of the ServiceAccount whose token Vault uses for TokenReview (bound to
system:auth-delegator only): switchboard-vault-reviewer for a release named
switchboard, as in config/ (kustomize).
*/}}
{{- define "switchboard.vaultReviewerName" -}}
{{- printf "%s-vault-reviewer" (include "switchboard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Namespaces the operator writes in besides the ws-* namespaces it creates: the
release namespace, and the receipts namespace when it is another one. A list.
*/}}
{{- define "switchboard.ownNamespaces" -}}
{{- $own := list .Release.Namespace }}
{{- with .Values.receiptsNamespace }}
{{- if ne . $.Release.Namespace }}
{{- $own = append $own . }}
{{- end }}
{{- end }}
{{- toJson $own }}
{{- end }}
