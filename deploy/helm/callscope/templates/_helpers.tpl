{{/*
Names, labels, image, secrets, environment and probes shared by every component.
Every define is namespaced "callscope." so a parent chart cannot collide with it.
*/}}

{{- define "callscope.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* release-chart, or fullnameOverride; the release name alone when it already holds the chart name. */}}
{{- define "callscope.fullname" -}}
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

{{/* Name of a component's resources: (dict "context" $ "component" "recorder") */}}
{{- define "callscope.componentName" -}}
{{- printf "%s-%s" (include "callscope.fullname" .context | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "callscope.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "callscope.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every resource: (dict "context" $ "component" "recorder"); component may be "". */}}
{{- define "callscope.labels" -}}
helm.sh/chart: {{ include "callscope.chart" .context }}
{{ include "callscope.selectorLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
app.kubernetes.io/part-of: callscope
{{- with .context.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "callscope.selectorLabels" -}}
app.kubernetes.io/name: {{ include "callscope.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{/* metadata.annotations body when commonAnnotations is set (call inside `annotations:`). */}}
{{- define "callscope.annotations" -}}
{{- with .Values.commonAnnotations }}
{{- toYaml . }}
{{- end }}
{{- end -}}

{{/*
The image of a component: its own image.* values win, else the top-level image; global.imageRegistry
wins over both registries. (dict "context" $ "image" .Values.recorder.image)
*/}}
{{- define "callscope.image" -}}
{{- $root := .context.Values.image -}}
{{- $own := .image | default dict -}}
{{- $registry := coalesce .context.Values.global.imageRegistry $own.registry $root.registry | default "" -}}
{{- $repository := coalesce $own.repository $root.repository -}}
{{- $tag := coalesce $own.tag $root.tag .context.Chart.AppVersion | toString -}}
{{- $digest := coalesce $own.digest $root.digest | default "" -}}
{{- $ref := ternary (printf "%s/%s" $registry $repository) $repository (ne $registry "") -}}
{{- if $digest -}}
{{- printf "%s@%s" $ref $digest -}}
{{- else -}}
{{- printf "%s:%s" $ref $tag -}}
{{- end -}}
{{- end -}}

{{- define "callscope.imagePullSecrets" -}}
{{- $secrets := concat (.Values.global.imagePullSecrets | default list) (.Values.image.pullSecrets | default list) | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "callscope.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "callscope.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* ---- Secrets: an existing Secret, or the chart-created one when auth.createSecret ---- */}}

{{- define "callscope.authSecretName" -}}
{{- printf "%s-auth" (include "callscope.fullname" .) -}}
{{- end -}}

{{- define "callscope.databaseSecretName" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else if .Values.auth.createSecret -}}
{{- include "callscope.authSecretName" . -}}
{{- else -}}
{{- fail "database: set database.existingSecret (a Secret with the libpq URL), or auth.createSecret=true with auth.databaseUrl for a development install" -}}
{{- end -}}
{{- end -}}

{{- define "callscope.databaseSecretKey" -}}
{{- ternary .Values.database.existingSecretUrlKey "database-url" (ne .Values.database.existingSecret "") -}}
{{- end -}}

{{- define "callscope.s3SecretName" -}}
{{- if .Values.objectStore.existingSecret -}}
{{- .Values.objectStore.existingSecret -}}
{{- else if .Values.auth.createSecret -}}
{{- include "callscope.authSecretName" . -}}
{{- else -}}
{{- fail "objectStore: set objectStore.existingSecret (a Secret with the S3 access and secret keys), or auth.createSecret=true with auth.s3AccessKey/auth.s3SecretKey for a development install" -}}
{{- end -}}
{{- end -}}

{{- define "callscope.s3AccessKeyKey" -}}
{{- ternary .Values.objectStore.existingSecretAccessKeyKey "s3-access-key" (ne .Values.objectStore.existingSecret "") -}}
{{- end -}}

{{- define "callscope.s3SecretKeyKey" -}}
{{- ternary .Values.objectStore.existingSecretSecretKeyKey "s3-secret-key" (ne .Values.objectStore.existingSecret "") -}}
{{- end -}}

{{- define "callscope.kafkaSasl" -}}
{{- if .Values.kafka.saslMechanism -}}true{{- end -}}
{{- end -}}

{{- define "callscope.kafkaSecretName" -}}
{{- if .Values.kafka.existingSecret -}}
{{- .Values.kafka.existingSecret -}}
{{- else if .Values.auth.createSecret -}}
{{- include "callscope.authSecretName" . -}}
{{- else -}}
{{- fail "kafka: kafka.saslMechanism is set; put the SASL password in kafka.existingSecret, or use auth.createSecret=true with auth.kafkaSaslPassword for a development install" -}}
{{- end -}}
{{- end -}}

{{- define "callscope.kafkaPasswordKey" -}}
{{- ternary .Values.kafka.existingSecretPasswordKey "kafka-sasl-password" (ne .Values.kafka.existingSecret "") -}}
{{- end -}}

{{/*
Kafka connection variables (CoreSettings kafka_*): used by the services and the topic Job.
*/}}
{{- define "callscope.env.kafka" -}}
{{- $args := . -}}
{{- with .context }}
- name: CALLSCOPE_KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required (host:port of your Kafka brokers)" .Values.kafka.bootstrapServers | quote }}
- name: CALLSCOPE_KAFKA_IDEMPOTENCE
  value: {{ .Values.kafka.idempotence | quote }}
- name: CALLSCOPE_KAFKA_CLIENT_ID
  value: {{ .Values.kafka.clientId | quote }}
- name: CALLSCOPE_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- if include "callscope.kafkaSasl" . }}
- name: CALLSCOPE_KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.saslMechanism | quote }}
{{- if and .Values.kafka.existingSecret .Values.kafka.existingSecretUsernameKey }}
- name: CALLSCOPE_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.existingSecret }}
      key: {{ .Values.kafka.existingSecretUsernameKey }}
{{- else }}
- name: CALLSCOPE_KAFKA_SASL_USERNAME
  value: {{ required "kafka.saslUsername (or kafka.existingSecretUsernameKey) is required with kafka.saslMechanism" .Values.kafka.saslUsername | quote }}
{{- end }}
- name: CALLSCOPE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $args.passwordSecret | default (include "callscope.kafkaSecretName" .) }}
      key: {{ include "callscope.kafkaPasswordKey" . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Variables every service reads (CoreSettings and OpenTelemetry): (dict "context" $ "component" "recorder")
*/}}
{{- define "callscope.env.common" -}}
{{- $ := .context -}}
{{- include "callscope.env.kafka" (dict "context" $) }}
- name: CALLSCOPE_KAFKA_FETCH_MAX_WAIT_MS
  value: {{ $.Values.kafka.fetchMaxWaitMs | quote }}
- name: CALLSCOPE_KAFKA_PRODUCER_BATCH_BYTES
  value: {{ $.Values.kafka.producerBatchBytes | quote }}
- name: CALLSCOPE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "callscope.databaseSecretName" $ }}
      key: {{ include "callscope.databaseSecretKey" $ }}
- name: CALLSCOPE_DATABASE_POOL_MAX
  value: {{ $.Values.database.poolMax | quote }}
- name: CALLSCOPE_OBJECT_STORE_BACKEND
  value: "s3"
- name: CALLSCOPE_S3_ENDPOINT
  value: {{ required "objectStore.s3Endpoint is required (host:port of S3 or MinIO)" $.Values.objectStore.s3Endpoint | quote }}
{{- with $.Values.objectStore.s3Region }}
- name: CALLSCOPE_S3_REGION
  value: {{ . | quote }}
{{- end }}
- name: CALLSCOPE_S3_SECURE
  value: {{ $.Values.objectStore.s3Secure | quote }}
- name: CALLSCOPE_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "callscope.s3SecretName" $ }}
      key: {{ include "callscope.s3AccessKeyKey" $ }}
- name: CALLSCOPE_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "callscope.s3SecretName" $ }}
      key: {{ include "callscope.s3SecretKeyKey" $ }}
- name: CALLSCOPE_RECORDINGS_BUCKET
  value: {{ $.Values.objectStore.recordingsBucket | quote }}
- name: CALLSCOPE_TENANT
  value: {{ $.Values.tenant | quote }}
- name: CALLSCOPE_LOG_LEVEL
  value: {{ $.Values.logLevel | quote }}
- name: CALLSCOPE_LOG_FORMAT
  value: {{ $.Values.logFormat | quote }}
- name: CALLSCOPE_METRICS_PORT
  value: {{ ternary $.Values.metrics.port 0 $.Values.metrics.enabled | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .component | quote }}
{{- if $.Values.tracing.enabled }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ required "tracing.otlpEndpoint is required with tracing.enabled" $.Values.tracing.otlpEndpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $.Values.tracing.sampler | quote }}
{{- with $.Values.tracing.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- $attributes := list "service.namespace=callscope" (printf "k8s.namespace.name=%s" (include "callscope.namespace" $)) -}}
{{- range $key, $value := $.Values.tracing.resourceAttributes }}
{{- $attributes = append $attributes (printf "%s=%s" $key (toString $value)) -}}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attributes | quote }}
{{- end -}}

{{/* extraEnvVars of the chart, then of the component: (dict "context" $ "values" .Values.recorder) */}}
{{- define "callscope.env.extra" -}}
{{- with .context.Values.extraEnvVars }}
{{ toYaml . }}
{{- end }}
{{- with .values.extraEnvVars }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* envFrom for extraEnvVarsCM / extraEnvVarsSecret, chart-wide and per component. */}}
{{- define "callscope.envFrom" -}}
{{- $items := .extra | default list -}}
{{- with .context.Values.extraEnvVarsCM }}{{ $items = append $items (dict "configMapRef" (dict "name" .)) }}{{ end -}}
{{- with .context.Values.extraEnvVarsSecret }}{{ $items = append $items (dict "secretRef" (dict "name" .)) }}{{ end -}}
{{- with .values.extraEnvVarsCM }}{{ $items = append $items (dict "configMapRef" (dict "name" .)) }}{{ end -}}
{{- with .values.extraEnvVarsSecret }}{{ $items = append $items (dict "secretRef" (dict "name" .)) }}{{ end -}}
{{- if $items }}
envFrom:
{{ toYaml $items | indent 2 }}
{{- end }}
{{- end -}}

{{/*
Native gRPC probes on the service's gRPC port; the health service answers SERVING only once
the service is ready (consumers assigned), so readiness means "will process the next record".
(dict "values" .Values.recorder)
*/}}
{{- define "callscope.probes" -}}
{{- $port := int .values.grpcPort -}}
{{- range $kind := list "startupProbe" "livenessProbe" "readinessProbe" }}
{{- $probe := index $.values $kind }}
{{- if $probe.enabled }}
{{ $kind }}:
  grpc:
    port: {{ $port }}
  initialDelaySeconds: {{ $probe.initialDelaySeconds }}
  periodSeconds: {{ $probe.periodSeconds }}
  timeoutSeconds: {{ $probe.timeoutSeconds }}
  failureThreshold: {{ $probe.failureThreshold }}
  successThreshold: {{ ternary 1 $probe.successThreshold (ne $kind "readinessProbe") }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "callscope.podSecurityContext" -}}
{{- if .Values.podSecurityContext.enabled }}
securityContext:
{{ toYaml (omit .Values.podSecurityContext "enabled") | indent 2 }}
{{- end }}
{{- end -}}

{{- define "callscope.containerSecurityContext" -}}
{{- if .Values.containerSecurityContext.enabled }}
securityContext:
{{ toYaml (omit .Values.containerSecurityContext "enabled") | indent 2 }}
{{- end }}
{{- end -}}

{{/* Pod-level fields every component shares: (dict "context" $ "values" .Values.analyzer) */}}
{{- define "callscope.podCommon" -}}
{{- $ := .context -}}
serviceAccountName: {{ include "callscope.serviceAccountName" $ }}
automountServiceAccountToken: {{ $.Values.serviceAccount.automountServiceAccountToken }}
{{- include "callscope.imagePullSecrets" $ }}
{{- include "callscope.podSecurityContext" $ }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
{{ toYaml . | indent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
{{ toYaml . | indent 2 }}
{{- end }}
terminationGracePeriodSeconds: {{ .values.terminationGracePeriodSeconds }}
{{- end -}}

{{/* Container ports every service declares: gRPC and, with metrics.enabled, metrics. */}}
{{- define "callscope.containerPorts" -}}
- name: grpc
  containerPort: {{ .values.grpcPort }}
  protocol: TCP
{{- if .context.Values.metrics.enabled }}
- name: metrics
  containerPort: {{ .context.Values.metrics.port }}
  protocol: TCP
{{- end }}
{{- end -}}

{{/* The /tmp emptyDir every pod gets (the root filesystem is read-only). */}}
{{- define "callscope.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{/* A PodDisruptionBudget body: (dict "context" $ "component" "analyzer" "pdb" .Values.analyzer.pdb) */}}
{{- define "callscope.pdbSpec" -}}
{{- if .pdb.minAvailable }}
minAvailable: {{ .pdb.minAvailable }}
{{- else }}
maxUnavailable: {{ .pdb.maxUnavailable }}
{{- end }}
selector:
  matchLabels:
{{- with (include "callscope.selectorLabels" (dict "context" .context "component" .component) | trim) }}{{ . | nindent 4 }}{{- end }}
{{- end -}}

{{/* Deployment update strategy: the component's own, else a rolling update. */}}
{{- define "callscope.deploymentStrategy" -}}
strategy:
{{- if .values.updateStrategy }}
{{ toYaml .values.updateStrategy | indent 2 }}
{{- else }}
  type: RollingUpdate
  rollingUpdate:
    maxSurge: 1
    maxUnavailable: 0
{{- end }}
{{- end -}}

{{/* The gRPC/metrics ClusterIP Service every component gets: (dict "context" $ "component" "x" "values" .Values.x) */}}
{{- define "callscope.service" -}}
{{- $ := .context -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "callscope.componentName" . }}
  namespace: {{ include "callscope.namespace" $ }}
  labels:
{{- with (include "callscope.labels" (dict "context" $ "component" .component) | trim) }}{{ . | nindent 4 }}{{- end }}
  {{- with $.Values.commonAnnotations }}
  annotations:
{{ toYaml . | indent 4 }}
  {{- end }}
spec:
  type: ClusterIP
  selector:
{{- with (include "callscope.selectorLabels" (dict "context" $ "component" .component) | trim) }}{{ . | nindent 4 }}{{- end }}
  ports:
    - name: grpc
      port: {{ .values.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: kubernetes.io/h2c
{{- if $.Values.metrics.enabled }}
    - name: metrics
      port: {{ $.Values.metrics.port }}
      targetPort: metrics
      protocol: TCP
{{- end }}
{{- end -}}

{{/*
A component's NetworkPolicy: gRPC in (any pod, or this namespace only), metrics in (from
metricsNamespaceSelector), `extraPorts` in from `extraFrom`, egress open or DNS + namespace +
extraEgress. (dict "context" $ "component" "x" "values" .Values.x "extraPorts" list "extraFrom" list)
*/}}
{{- define "callscope.networkPolicy" -}}
{{- $args := . -}}
{{- $ := .context -}}
{{- $np := $.Values.networkPolicy -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "callscope.componentName" . }}
  namespace: {{ include "callscope.namespace" $ }}
  labels:
{{- with (include "callscope.labels" (dict "context" $ "component" .component) | trim) }}{{ . | nindent 4 }}{{- end }}
  {{- with $.Values.commonAnnotations }}
  annotations:
{{ toYaml . | indent 4 }}
  {{- end }}
spec:
  podSelector:
    matchLabels:
{{- with (include "callscope.selectorLabels" (dict "context" $ "component" .component) | trim) }}{{ . | nindent 6 }}{{- end }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    - ports:
        - port: {{ .values.grpcPort }}
          protocol: TCP
{{- if not $np.allowExternal }}
      from:
        - podSelector: {}
{{- end }}
{{- if $.Values.metrics.enabled }}
    - ports:
        - port: {{ $.Values.metrics.port }}
          protocol: TCP
      from:
        - namespaceSelector:
{{- if $np.metricsNamespaceSelector }}
{{ toYaml $np.metricsNamespaceSelector | indent 12 }}
{{- else }} {}
{{- end }}
{{- end }}
{{- with .extraPorts }}
    - ports:
{{ toYaml . | indent 8 }}
{{- with $args.extraFrom }}
      from:
{{ toYaml . | indent 8 }}
{{- end }}
{{- end }}
{{- with $np.extraIngress }}
{{ toYaml . | indent 4 }}
{{- end }}
  egress:
{{- if $np.allowExternalEgress }}
    - {}
{{- else }}
    # DNS
    - to:
        - namespaceSelector: {}
          podSelector:
            matchLabels:
              k8s-app: kube-dns
      ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    # Pods of this namespace (other Callscope components, an in-namespace Kafka or MinIO).
    - to:
        - podSelector: {}
{{- with $np.extraEgress }}
{{ toYaml . | indent 4 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A component's ServiceMonitor: (dict "context" $ "component" "x") */}}
{{- define "callscope.serviceMonitor" -}}
{{- $ := .context -}}
{{- $sm := $.Values.metrics.serviceMonitor -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "callscope.componentName" . }}
  namespace: {{ default (include "callscope.namespace" $) $sm.namespace }}
  labels:
{{- with (include "callscope.labels" (dict "context" $ "component" .component) | trim) }}{{ . | nindent 4 }}{{- end }}
{{- with $sm.labels }}
{{ toYaml . | indent 4 }}
{{- end }}
  {{- with $.Values.commonAnnotations }}
  annotations:
{{ toYaml . | indent 4 }}
  {{- end }}
spec:
  jobLabel: app.kubernetes.io/component
  namespaceSelector:
    matchNames:
      - {{ include "callscope.namespace" $ }}
  selector:
    matchLabels:
{{- with (include "callscope.selectorLabels" (dict "context" $ "component" .component) | trim) }}{{ . | nindent 6 }}{{- end }}
  endpoints:
    - port: metrics
      path: /metrics
      interval: {{ $sm.interval }}
{{- with $sm.scrapeTimeout }}
      scrapeTimeout: {{ . }}
{{- end }}
      honorLabels: {{ $sm.honorLabels }}
{{- with $sm.relabelings }}
      relabelings:
{{ toYaml . | indent 8 }}
{{- end }}
{{- with $sm.metricRelabelings }}
      metricRelabelings:
{{ toYaml . | indent 8 }}
{{- end }}
{{- end -}}

{{/* The transcriber's consumer group and input topic (callscope_transcriber.app, callscope_core.topics). */}}
{{- define "callscope.transcriber.consumerGroup" -}}callscope-transcriber{{- end -}}
{{- define "callscope.transcriber.topic" -}}callscope.audio.segments{{- end -}}

{{/* KEDA's name for the Kafka SASL mechanism. */}}
{{- define "callscope.kedaSaslMode" -}}
{{- $m := upper .Values.kafka.saslMechanism -}}
{{- if eq $m "PLAIN" -}}plaintext
{{- else if eq $m "SCRAM-SHA-256" -}}scram_sha256
{{- else if eq $m "SCRAM-SHA-512" -}}scram_sha512
{{- else -}}{{ fail (printf "keda.enabled: KEDA's Kafka scaler does not support kafka.saslMechanism=%s here (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)" .Values.kafka.saslMechanism) }}
{{- end -}}
{{- end -}}

{{/* The topic Job runs before the chart's resources exist: its own hook Secret when the SASL
password comes from auth.*, and an existing ServiceAccount. */}}
{{- define "callscope.topics.hookSecret" -}}
{{- if and .Values.kafka.saslMechanism (not .Values.kafka.existingSecret) .Values.auth.createSecret -}}
{{- printf "%s-topics" (include "callscope.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "callscope.topics.serviceAccountName" -}}
{{- if .Values.topics.serviceAccountName -}}
{{- .Values.topics.serviceAccountName -}}
{{- else if not .Values.serviceAccount.create -}}
{{- include "callscope.serviceAccountName" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}
