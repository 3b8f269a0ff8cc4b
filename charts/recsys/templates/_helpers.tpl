{{- /*
SPDX-FileCopyrightText: 2026 recsys authors
SPDX-License-Identifier: BUSL-1.1
*/ -}}

{{/* Chart name. */}}
{{- define "recsys.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "recsys.fullname" -}}
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

{{- define "recsys.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels common to every object. */}}
{{- define "recsys.labels" -}}
helm.sh/chart: {{ include "recsys.chart" . }}
app.kubernetes.io/name: {{ include "recsys.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: recsys
{{- end }}

{{/* Selector of the sidecar pods. */}}
{{- define "recsys.selectorLabels" -}}
app.kubernetes.io/name: {{ include "recsys.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: sidecar
{{- end }}

{{- define "recsys.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "recsys.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}; the second argument is the default tag. */}}
{{- define "recsys.imageRef" -}}
{{- $image := index . 0 -}}
{{- $defaultTag := index . 1 -}}
{{- $tag := default $defaultTag $image.tag | toString -}}
{{- if $image.digest -}}
{{- printf "%s:%s@%s" $image.repository $tag $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository $tag -}}
{{- end -}}
{{- end }}

{{- define "recsys.image" -}}
{{- include "recsys.imageRef" (list .Values.image .Chart.AppVersion) }}
{{- end }}

{{/* MinIO (demo) object names and in-cluster endpoint. */}}
{{- define "recsys.minio.fullname" -}}
{{- printf "%s-minio" (include "recsys.fullname" . | trunc 57 | trimSuffix "-") }}
{{- end }}

{{- define "recsys.minio.secretName" -}}
{{- default (include "recsys.minio.fullname" .) .Values.minio.auth.existingSecret }}
{{- end }}

{{- define "recsys.minio.endpoint" -}}
{{- printf "http://%s.%s.svc:%d" (include "recsys.minio.fullname" .) .Release.Namespace (int .Values.minio.service.port) }}
{{- end }}

{{- define "recsys.minio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "recsys.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: minio
{{- end }}

{{/* S3 credentials of the sidecar: from the demo MinIO, from s3.existingSecret, or none. */}}
{{- define "recsys.s3CredentialsEnv" -}}
{{- if .Values.minio.enabled }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "recsys.minio.secretName" . }}
      key: root-user
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "recsys.minio.secretName" . }}
      key: root-password
{{- else if .Values.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.existingSecret }}
      key: {{ .Values.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.existingSecret }}
      key: {{ .Values.s3.secretAccessKeyKey }}
{{- end }}
{{- end }}
