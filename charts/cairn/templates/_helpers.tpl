{{- define "cairn.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cairn.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cairn.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cairn.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cairn.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "cairn.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "cairn.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cairn.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cairn.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret the chart makes for credentials given inline. */}}
{{- define "cairn.secretName" -}}
{{- printf "%s-credentials" (include "cairn.fullname" .) -}}
{{- end -}}

{{- define "cairn.storageUrl" -}}
{{- if eq .Values.storage.type "s3" -}}
{{- $q := list (printf "endpoint=%s" (.Values.storage.s3.endpoint | urlquery)) (printf "region=%s" .Values.storage.s3.region) (printf "pathStyle=%t" .Values.storage.s3.pathStyle) -}}
{{- if .Values.storage.s3.prefix -}}{{- $q = append $q (printf "prefix=%s" (.Values.storage.s3.prefix | urlquery)) -}}{{- end -}}
{{- printf "s3://%s?%s" .Values.storage.s3.bucket (join "&" $q) -}}
{{- else -}}
file:///data/blobs
{{- end -}}
{{- end -}}

{{/* Combinations that would lose data or split state fail the render with a reason. */}}
{{- define "cairn.validate" -}}
{{- $replicas := int .Values.replicaCount -}}
{{- if .Values.autoscaling.enabled -}}{{- $replicas = int .Values.autoscaling.maxReplicas -}}{{- end -}}
{{- if not (has .Values.storage.type (list "s3" "filesystem")) -}}
{{- fail "storage.type must be s3 or filesystem" -}}
{{- end -}}
{{- if not (has .Values.database.type (list "postgres" "sqlite")) -}}
{{- fail "database.type must be postgres or sqlite" -}}
{{- end -}}
{{- if gt $replicas 1 -}}
{{- if ne .Values.storage.type "s3" -}}{{- fail "more than one replica needs storage.type=s3: a filesystem volume is not shared by replicas" -}}{{- end -}}
{{- if ne .Values.database.type "postgres" -}}{{- fail "more than one replica needs database.type=postgres: SQLite is one process's database" -}}{{- end -}}
{{- if not (or .Values.redis.url .Values.redis.existingSecret) -}}{{- fail "more than one replica needs redis.url or redis.existingSecret: upload sessions must be shared" -}}{{- end -}}
{{- end -}}
{{- if eq .Values.storage.type "s3" -}}
{{- if not .Values.storage.s3.endpoint -}}{{- fail "storage.s3.endpoint is required" -}}{{- end -}}
{{- if not (or .Values.storage.s3.existingSecret (and .Values.storage.s3.accessKeyId .Values.storage.s3.secretAccessKey)) -}}{{- fail "storage.s3.existingSecret, or accessKeyId and secretAccessKey, are required" -}}{{- end -}}
{{- end -}}
{{- if eq .Values.database.type "postgres" -}}
{{- if not (or .Values.database.url .Values.database.existingSecret) -}}{{- fail "database.url or database.existingSecret is required with database.type=postgres" -}}{{- end -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) -}}{{- fail "tls.secretName is required when tls.enabled" -}}{{- end -}}
{{- if and (gt $replicas 1) (not .Values.audit.keySecret) -}}{{- fail "more than one replica needs audit.keySecret: one checkpoint signing key shared by every replica" -}}{{- end -}}
{{- if not (has .Values.auth.mode (list "token" "none")) -}}{{- fail "auth.mode must be token or none" -}}{{- end -}}
{{- if ge (int .Values.config.shutdownGraceSeconds) (int .Values.terminationGracePeriodSeconds) -}}{{- fail "config.shutdownGraceSeconds must be below terminationGracePeriodSeconds" -}}{{- end -}}
{{- end -}}

{{/* Whether the pods need the data volume to be persistent (embedded storage or SQLite). */}}
{{- define "cairn.persistent" -}}
{{- if or (eq .Values.storage.type "filesystem") (eq .Values.database.type "sqlite") -}}true{{- end -}}
{{- end -}}

{{/* The environment every Cairn container gets (server and gc job). */}}
{{- define "cairn.env" -}}
- name: CAIRN_DATA_DIR
  value: /data
- name: CAIRN_STORAGE
  value: {{ include "cairn.storageUrl" . | quote }}
{{- if eq .Values.storage.type "s3" }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ default (include "cairn.secretName" .) .Values.storage.s3.existingSecret }}
      key: {{ .Values.storage.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ default (include "cairn.secretName" .) .Values.storage.s3.existingSecret }}
      key: {{ .Values.storage.s3.secretAccessKeyKey }}
{{- end }}
{{- if eq .Values.database.type "postgres" }}
- name: CAIRN_DATABASE
  valueFrom:
    secretKeyRef:
      name: {{ default (include "cairn.secretName" .) .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
{{- else }}
- name: CAIRN_DATABASE
  value: sqlite:///data/cairn.db
{{- end }}
{{- if or .Values.redis.url .Values.redis.existingSecret }}
- name: CAIRN_SESSIONS
  valueFrom:
    secretKeyRef:
      name: {{ default (include "cairn.secretName" .) .Values.redis.existingSecret }}
      key: {{ .Values.redis.urlKey }}
- name: CAIRN_RATE_LIMITS
  valueFrom:
    secretKeyRef:
      name: {{ default (include "cairn.secretName" .) .Values.redis.existingSecret }}
      key: {{ .Values.redis.urlKey }}
{{- end }}
- name: CAIRN_AUTH
  value: {{ .Values.auth.mode | quote }}
- name: CAIRN_AUTH_SERVICE
  value: {{ .Values.auth.service | quote }}
{{- with .Values.auth.realm }}
- name: CAIRN_AUTH_REALM
  value: {{ . | quote }}
{{- end }}
- name: CAIRN_TOKEN_TTL
  value: {{ .Values.auth.tokenTtlSeconds | quote }}
- name: CAIRN_RATE_ADDRESS_PER_SECOND
  value: {{ .Values.auth.rateLimits.perAddress.perSecond | quote }}
- name: CAIRN_RATE_ADDRESS_BURST
  value: {{ .Values.auth.rateLimits.perAddress.burst | quote }}
- name: CAIRN_RATE_IDENTITY_PER_SECOND
  value: {{ .Values.auth.rateLimits.perIdentity.perSecond | quote }}
- name: CAIRN_RATE_IDENTITY_BURST
  value: {{ .Values.auth.rateLimits.perIdentity.burst | quote }}
{{- if .Values.auth.policiesConfigMap }}
- name: CAIRN_POLICY_DIR
  value: /policies
{{- end }}
- name: CAIRN_AUDIT_ORIGIN
  value: {{ .Values.audit.origin | quote }}
- name: CAIRN_AUDIT_PULLS
  value: {{ .Values.audit.pulls | quote }}
{{- with .Values.audit.witness }}
- name: CAIRN_AUDIT_WITNESS
  value: {{ . | quote }}
{{- end }}
{{- if .Values.audit.keySecret }}
- name: CAIRN_AUDIT_KEY_FILE
  value: /audit/audit-key.pem
{{- end }}
- name: CAIRN_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: CAIRN_UPLOAD_IDLE_TIMEOUT
  value: {{ .Values.config.uploadIdleTimeoutSeconds | quote }}
- name: CAIRN_VERIFY_ON_READ
  value: {{ .Values.config.verifyOnRead | quote }}
- name: CAIRN_VERIFIED_TTL
  value: {{ .Values.config.verifiedTtlSeconds | quote }}
- name: CAIRN_BLOB_REDIRECT
  value: {{ .Values.config.blobRedirect | quote }}
- name: CAIRN_BLOB_REDIRECT_TTL
  value: {{ .Values.config.blobRedirectTtlSeconds | quote }}
- name: CAIRN_GC_GRACE
  value: {{ .Values.config.gcGraceSeconds | quote }}
- name: CAIRN_SHUTDOWN_GRACE
  value: {{ .Values.config.shutdownGraceSeconds | quote }}
{{- range $name, $value := .Values.config.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
