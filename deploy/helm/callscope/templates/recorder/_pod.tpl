{{/*
The recorder's pod, shared by its Deployment, DaemonSet and StatefulSet.

Two network modes (docs/deploy.md explains the trade-off):
- hostNetwork: the recorder binds SIP and its whole RTP range on the node; the SDP carries the
  node IP (downward API status.hostIP). One recorder per node.
- service: a Service (ClusterIP, NodePort or LoadBalancer) carries SIP and a small RTP range,
  each RTP port listed one by one.
*/}}

{{/* The even RTP ports the recorder allocates (stream k of a call on base+2k), as a JSON list. */}}
{{- define "callscope.recorder.rtpPorts" -}}
{{- $min := int .Values.recorder.rtpPortMin -}}
{{- $first := add $min (mod $min 2) | int -}}
{{- $ports := list -}}
{{- range $port := untilStep $first (add (int .Values.recorder.rtpPortMax) 1 | int) 2 -}}
{{- $ports = append $ports $port -}}
{{- end -}}
{{- toJson $ports -}}
{{- end -}}

{{/* The address the recorder writes into SDP answers and its Contact header. */}}
{{- define "callscope.recorder.advertisedIPEnv" -}}
{{- $r := .Values.recorder -}}
- name: CALLSCOPE_RECORDER_ADVERTISED_IP
{{- if $r.advertisedIP }}
  value: {{ $r.advertisedIP | quote }}
{{- else if or (eq $r.networkMode "hostNetwork") (eq $r.service.type "NodePort") }}
  valueFrom:
    fieldRef:
      fieldPath: status.hostIP
{{- else if eq $r.service.type "LoadBalancer" }}
  value: {{ $r.service.loadBalancerIP | quote }}
{{- else }}
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- end }}
{{- end -}}

{{- define "callscope.recorder.affinity" -}}
{{- $r := .Values.recorder -}}
{{- if $r.affinity }}
affinity:
{{ toYaml $r.affinity | indent 2 }}
{{- else if and (eq $r.networkMode "hostNetwork") (ne $r.kind "DaemonSet") }}
affinity:
  podAntiAffinity:
    # One recorder per node: they all bind the same SIP port and RTP range on the node.
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
{{- with (include "callscope.selectorLabels" (dict "context" . "component" "recorder") | trim) }}{{ . | nindent 12 }}{{- end }}
{{- else if ne $r.kind "DaemonSet" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
{{- with (include "callscope.selectorLabels" (dict "context" . "component" "recorder") | trim) }}{{ . | nindent 14 }}{{- end }}
{{- end }}
{{- end -}}

{{- define "callscope.recorder.podTemplate" -}}
{{- $r := .Values.recorder -}}
{{- $hostNetwork := eq $r.networkMode "hostNetwork" -}}
metadata:
  labels:
{{- with (include "callscope.labels" (dict "context" . "component" "recorder") | trim) }}{{ . | nindent 4 }}{{- end }}
{{- with $r.podLabels }}
{{ toYaml . | indent 4 }}
{{- end }}
  annotations:
    checksum/auth: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- with $r.podAnnotations }}
{{ toYaml . | indent 4 }}
{{- end }}
spec:
{{- with (include "callscope.podCommon" (dict "context" . "values" $r) | trim) }}{{ . | nindent 2 }}{{- end }}
{{- if $hostNetwork }}
  hostNetwork: true
  # Resolve cluster names (Kafka, PostgreSQL) although the pod uses the node's network.
  dnsPolicy: ClusterFirstWithHostNet
{{- end }}
{{- with (include "callscope.recorder.affinity" . | trim) }}{{ . | nindent 2 }}{{- end }}
  containers:
    - name: recorder
      image: {{ include "callscope.image" (dict "context" . "image" $r.image) }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: ["python", "-m", "callscope_recorder"]
{{- with (include "callscope.containerSecurityContext" . | trim) }}{{ . | nindent 6 }}{{- end }}
      ports:
        - name: sip-udp
          containerPort: {{ $r.sipPort }}
          protocol: UDP
{{- if $r.sipTcp }}
        - name: sip-tcp
          containerPort: {{ $r.sipPort }}
          protocol: TCP
{{- end }}
{{- if $r.mediaStreams.enabled }}
        - name: media-ws
          containerPort: {{ $r.mediaStreams.port }}
          protocol: TCP
{{- end }}
{{- with (include "callscope.containerPorts" (dict "context" . "values" $r) | trim) }}{{ . | nindent 8 }}{{- end }}
{{- if not $hostNetwork }}
{{- range $port := include "callscope.recorder.rtpPorts" . | fromJsonArray }}
        - name: rtp-{{ int $port }}
          containerPort: {{ int $port }}
          protocol: UDP
{{- end }}
{{- end }}
      env:
{{- with (include "callscope.env.common" (dict "context" . "component" "recorder") | trim) }}{{ . | nindent 8 }}{{- end }}
        - name: CALLSCOPE_RECORDER_GRPC_PORT
          value: {{ $r.grpcPort | quote }}
        - name: CALLSCOPE_RECORDER_SIP_HOST
          value: "0.0.0.0"
        - name: CALLSCOPE_RECORDER_SIP_PORT
          value: {{ $r.sipPort | quote }}
{{- with (include "callscope.recorder.advertisedIPEnv" . | trim) }}{{ . | nindent 8 }}{{- end }}
        - name: CALLSCOPE_RECORDER_RTP_PORT_MIN
          value: {{ $r.rtpPortMin | quote }}
        - name: CALLSCOPE_RECORDER_RTP_PORT_MAX
          value: {{ $r.rtpPortMax | quote }}
        - name: CALLSCOPE_RECORDER_MEDIA_TIMEOUT_S
          value: {{ $r.mediaTimeoutSeconds | quote }}
        - name: CALLSCOPE_RECORDER_SPOOL_DIR
          value: /var/lib/callscope/spool
        # Media-stream WebSockets (AudioHook, Twilio); port 0 turns the listener off.
        - name: CALLSCOPE_RECORDER_WEBSOCKET_PORT
          value: {{ ternary $r.mediaStreams.port 0 $r.mediaStreams.enabled | quote }}
{{- with $r.mediaStreams.publicUrl }}
        - name: CALLSCOPE_RECORDER_WEBSOCKET_PUBLIC_URL
          value: {{ . | quote }}
{{- end }}
{{- with $r.mediaStreams.existingSecret }}
        - name: CALLSCOPE_RECORDER_AUDIOHOOK_API_KEYS
          valueFrom:
            secretKeyRef:
              name: {{ . | quote }}
              key: audiohook-api-keys
              optional: true
        # API_KEY=BASE64_SECRET pairs: those keys' upgrade requests must be signed (RFC 9421).
        - name: CALLSCOPE_RECORDER_AUDIOHOOK_CLIENT_SECRETS
          valueFrom:
            secretKeyRef:
              name: {{ . | quote }}
              key: audiohook-client-secrets
              optional: true
        - name: CALLSCOPE_RECORDER_TWILIO_AUTH_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ . | quote }}
              key: twilio-auth-token
              optional: true
{{- end }}
        # GetRecording asks retention before serving a recording (fails closed without it).
        - name: CALLSCOPE_RECORDER_RETENTION_TARGET
          value: {{ printf "%s:%v" (include "callscope.componentName" (dict "context" . "component" "retention")) .Values.retention.grpcPort | quote }}
{{- with $r.agentAorPattern }}
        - name: CALLSCOPE_RECORDER_AGENT_AOR_PATTERN
          value: {{ . | quote }}
{{- end }}
{{- with $r.defaultQueue }}
        - name: CALLSCOPE_RECORDER_DEFAULT_QUEUE
          value: {{ . | quote }}
{{- end }}
{{- with (include "callscope.env.extra" (dict "context" . "values" $r) | trim) }}{{ . | nindent 8 }}{{- end }}
{{- with (include "callscope.envFrom" (dict "context" . "values" $r) | trim) }}{{ . | nindent 6 }}{{- end }}
{{- with (include "callscope.probes" (dict "values" $r) | trim) }}{{ . | nindent 6 }}{{- end }}
{{- if gt (int $r.preStopSleepSeconds) 0 }}
      lifecycle:
        # Before SIGTERM: let endpoint removal reach the load balancers. On SIGTERM the recorder
        # answers new INVITEs with 503 (the SBC fails over) and drains the calls in progress
        # within terminationGracePeriodSeconds.
        preStop:
          exec:
            command: ["sleep", "{{ $r.preStopSleepSeconds }}"]
{{- end }}
      resources:
{{ toYaml $r.resources | indent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: spool
          mountPath: /var/lib/callscope/spool
{{- with $r.extraVolumeMounts }}
{{ toYaml . | indent 8 }}
{{- end }}
  volumes:
{{- with (include "callscope.tmpVolume" . | trim) }}{{ . | nindent 4 }}{{- end }}
{{- if ne $r.kind "StatefulSet" }}
    - name: spool
      emptyDir:
        sizeLimit: {{ $r.spoolSizeLimit }}
{{- end }}
{{- with $r.extraVolumes }}
{{ toYaml . | indent 4 }}
{{- end }}
{{- end -}}
