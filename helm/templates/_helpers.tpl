{{/*
The chart name, truncated to the 63 characters of a DNS label.
*/}}
{{- define "flrepo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified app name. Truncated to leave room for the longest suffix
added to it ("-mongodb", 8 characters).
*/}}
{{- define "flrepo.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "flrepo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels shared by every resource of the release.
*/}}
{{- define "flrepo.labels" -}}
helm.sh/chart: {{ include "flrepo.chart" . }}
{{ include "flrepo.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "flrepo.name" . }}
{{- end }}

{{/*
Selector labels shared by every component; each component adds
app.kubernetes.io/component.
*/}}
{{- define "flrepo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flrepo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Selector labels of the API server pods.
*/}}
{{- define "flrepo.api.selectorLabels" -}}
{{ include "flrepo.selectorLabels" . }}
app.kubernetes.io/component: api
{{- end }}

{{/*
Name of the bundled MongoDB's StatefulSet and headless Service.
*/}}
{{- define "flrepo.mongodb.fullname" -}}
{{- printf "%s-mongodb" (include "flrepo.fullname" .) }}
{{- end }}

{{/*
Selector labels of the MongoDB pod.
*/}}
{{- define "flrepo.mongodb.selectorLabels" -}}
{{ include "flrepo.selectorLabels" . }}
app.kubernetes.io/component: mongodb
{{- end }}

{{/*
The service account of the pods.
*/}}
{{- define "flrepo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flrepo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The API server image reference.
*/}}
{{- define "flrepo.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
The bundled MongoDB's image reference.
*/}}
{{- define "flrepo.mongodb.image" -}}
{{- printf "%s:%s" .Values.mongodb.image.repository (.Values.mongodb.image.tag | toString) }}
{{- end }}

{{/*
Name of the Secret holding the MongoDB URL: an existing one, or the chart's.
*/}}
{{- define "flrepo.mongodbSecretName" -}}
{{- if and (not .Values.mongodb.enabled) .Values.externalMongodb.existingSecret }}
{{- .Values.externalMongodb.existingSecret }}
{{- else }}
{{- include "flrepo.mongodb.fullname" . }}
{{- end }}
{{- end }}

{{/*
Key of the MongoDB URL in that Secret.
*/}}
{{- define "flrepo.mongodbSecretKey" -}}
{{- if and (not .Values.mongodb.enabled) .Values.externalMongodb.existingSecret }}
{{- .Values.externalMongodb.existingSecretKey | default "mongodb-url" }}
{{- else }}
{{- print "mongodb-url" }}
{{- end }}
{{- end }}

{{/*
The root password of the bundled MongoDB: the configured one, else the one
already stored in the release's Secret (so upgrades keep it), else a new one.
*/}}
{{- define "flrepo.mongodb.rootPassword" -}}
{{- if .Values.mongodb.auth.rootPassword }}
{{- .Values.mongodb.auth.rootPassword }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "flrepo.mongodbSecretName" .) }}
{{- if and $existing $existing.data (index $existing.data "mongodb-root-password") }}
{{- index $existing.data "mongodb-root-password" | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The replica set key of the bundled MongoDB (members authenticate each other with
it): the one already stored in the release's Secret, else a new one.
*/}}
{{- define "flrepo.mongodb.replicaSetKey" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "flrepo.mongodbSecretName" .) }}
{{- if and $existing $existing.data (index $existing.data "mongodb-replica-set-key") }}
{{- index $existing.data "mongodb-replica-set-key" | b64dec }}
{{- else }}
{{- randAlphaNum 756 }}
{{- end }}
{{- end }}

{{/*
The host:port of every member of the bundled replica set, comma-separated; each
pod of the StatefulSet has a stable name in the headless Service.
*/}}
{{- define "flrepo.mongodb.hosts" -}}
{{- $name := include "flrepo.mongodb.fullname" . }}
{{- $hosts := list }}
{{- range $i := until (int .Values.mongodb.replicaCount) }}
{{- $hosts = append $hosts (printf "%s-%d.%s.%s.svc:27017" $name $i $name $.Release.Namespace) }}
{{- end }}
{{- join "," $hosts }}
{{- end }}

{{/*
Fails the rendering when no MongoDB is configured.
*/}}
{{- define "flrepo.validateValues" -}}
{{- if and (not .Values.mongodb.enabled) (not .Values.externalMongodb.url) (not .Values.externalMongodb.existingSecret) }}
{{- fail "mongodb.enabled=false needs externalMongodb.url or externalMongodb.existingSecret" }}
{{- end }}
{{- end }}

{{/*
Environment of the containers that open the database: the ConfigMap and the
MongoDB URL from its Secret.
*/}}
{{- define "flrepo.databaseEnv" -}}
envFrom:
  - configMapRef:
      name: {{ include "flrepo.fullname" . }}
env:
  - name: FLREPO_MONGODB_URL
    valueFrom:
      secretKeyRef:
        name: {{ include "flrepo.mongodbSecretName" . }}
        key: {{ include "flrepo.mongodbSecretKey" . }}
{{- end }}

{{/*
An init container that waits until MongoDB answers ping: the server creates its
indexes at startup and would otherwise restart until the database is up.
*/}}
{{- define "flrepo.waitForMongodb" -}}
- name: wait-for-mongodb
  image: {{ include "flrepo.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command:
    - python
    - -c
    - |
      import os, time
      from pymongo import MongoClient
      while True:
          try:
              with MongoClient(os.environ["FLREPO_MONGODB_URL"], serverSelectionTimeoutMS=5000) as client:
                  client.admin.command("ping")
              break
          except Exception as exc:
              print(f"waiting for MongoDB: {type(exc).__name__}: {exc}"[:300], flush=True)
              time.sleep(5)
  {{- include "flrepo.databaseEnv" . | nindent 2 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    requests:
      cpu: 10m
      memory: 64Mi
    limits:
      memory: 128Mi
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end }}

{{/*
The Secret holding the admin token, and its key; empty when there is none.
*/}}
{{- define "flrepo.adminTokenSecretName" -}}
{{- if .Values.security.adminToken.existingSecret }}
{{- .Values.security.adminToken.existingSecret }}
{{- else if .Values.security.adminToken.create }}
{{- printf "%s-admin-token" (include "flrepo.fullname" .) }}
{{- end }}
{{- end }}

{{- define "flrepo.adminTokenSecretKey" -}}
{{- if .Values.security.adminToken.existingSecret }}
{{- .Values.security.adminToken.existingSecretKey | default "admin-token" }}
{{- else }}
{{- print "admin-token" }}
{{- end }}
{{- end }}
