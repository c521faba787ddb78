{{/*
Checks across values that a JSON schema cannot express. Each failure names the values to
change. Called from NOTES.txt (rendered on every install/upgrade) and from the workloads.
*/}}

{{/* Models the image can assemble from its weight packages (callscope_transcriber.models.KNOWN_MODELS). */}}
{{- define "callscope.knownModels" -}}
{{- list "whisper-base" "whisper-tiny.en" | toJson -}}
{{- end -}}

{{/* Compute types CTranslate2 runs on CPU; the others need a GPU. */}}
{{- define "callscope.cpuComputeTypes" -}}
{{- list "default" "auto" "int8" "int8_float32" "float32" | toJson -}}
{{- end -}}

{{/* A Service lists every RTP port, and cloud load balancers cap ports per balancer. */}}
{{- define "callscope.maxServiceRtpPorts" -}}100{{- end -}}

{{- define "callscope.validateValues" -}}
{{- $r := .Values.recorder -}}
{{- $t := .Values.transcriber -}}
{{- $messages := list -}}
{{- if $r.enabled -}}
  {{- if and (eq $r.kind "DaemonSet") (ne $r.networkMode "hostNetwork") -}}
    {{- $messages = append $messages "recorder.kind=DaemonSet needs recorder.networkMode=hostNetwork (one recorder per node on the node's address); use kind=Deployment with networkMode=service" -}}
  {{- end -}}
  {{- if and (eq $r.kind "DaemonSet") $r.pdb.create (not $r.pdb.minAvailable) -}}
    {{- $messages = append $messages "recorder.kind=DaemonSet: a PodDisruptionBudget over DaemonSet pods accepts only an integer minAvailable; set recorder.pdb.minAvailable (e.g. recorder nodes - 1) or recorder.pdb.create=false" -}}
  {{- end -}}
  {{- if lt (int $r.rtpPortMax) (add (int $r.rtpPortMin) 4 | int) -}}
    {{- $messages = append $messages (printf "recorder.rtpPortMax (%d) must be at least recorder.rtpPortMin+4 (%d): the range must hold two RTP streams" (int $r.rtpPortMax) (add (int $r.rtpPortMin) 4 | int)) -}}
  {{- end -}}
  {{- if eq $r.networkMode "service" -}}
    {{- $ports := include "callscope.recorder.rtpPorts" . | fromJsonArray -}}
    {{- if gt (len $ports) (int (include "callscope.maxServiceRtpPorts" .)) -}}
      {{- $messages = append $messages (printf "recorder.rtpPortMin..rtpPortMax gives %d RTP ports; networkMode=service lists each in the Service, at most %s (use networkMode=hostNetwork for large ranges)" (len $ports) (include "callscope.maxServiceRtpPorts" .)) -}}
    {{- end -}}
    {{- if eq $r.service.type "NodePort" -}}
      {{- if or (lt (int $r.sipPort) 30000) (gt (int $r.sipPort) 32767) (lt (int $r.rtpPortMin) 30000) (gt (int $r.rtpPortMax) 32767) -}}
        {{- $messages = append $messages "recorder.service.type=NodePort: the SDP and Contact carry the pod's own ports, so recorder.sipPort and recorder.rtpPortMin..rtpPortMax must lie in the node port range 30000-32767 (node port = container port)" -}}
      {{- end -}}
    {{- end -}}
    {{- if and (eq $r.service.type "LoadBalancer") (not (or $r.advertisedIP $r.service.loadBalancerIP)) -}}
      {{- $messages = append $messages "recorder.service.type=LoadBalancer: set recorder.service.loadBalancerIP (or recorder.advertisedIP) to the balancer's address; the recorder writes it into SDP answers" -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- if $t.enabled -}}
  {{- if and $t.gpu.enabled (eq $t.device "cpu") -}}
    {{- $messages = append $messages "transcriber.gpu.enabled=true requests a GPU but transcriber.device=cpu would not use it: set transcriber.device=cuda (and computeType=float16)" -}}
  {{- end -}}
  {{- if and (eq $t.device "cuda") (not $t.gpu.enabled) -}}
    {{- $messages = append $messages "transcriber.device=cuda needs transcriber.gpu.enabled=true (a GPU resource limit on a GPU node)" -}}
  {{- end -}}
  {{- if and (eq $t.device "cpu") (not (has $t.computeType (include "callscope.cpuComputeTypes" . | fromJsonArray))) -}}
    {{- $messages = append $messages (printf "transcriber.computeType=%s needs a GPU; with transcriber.device=cpu use int8" $t.computeType) -}}
  {{- end -}}
  {{- if and $t.models.install (not (has $t.liveModel (include "callscope.knownModels" . | fromJsonArray))) -}}
    {{- $messages = append $messages (printf "transcriber.liveModel=%s is not a model the image can install (%s): set transcriber.models.install=false and provide the CTranslate2 directory on transcriber.models.existingClaim" $t.liveModel (include "callscope.knownModels" . | fromJsonArray | join ", ")) -}}
  {{- end -}}
  {{- if and (not $t.models.install) (not $t.models.existingClaim) -}}
    {{- $messages = append $messages "transcriber.models.install=false leaves the models emptyDir empty: set transcriber.models.existingClaim to a PVC holding the model" -}}
  {{- end -}}
  {{- if lt (int $t.autoscaling.maxReplicas) (int $t.autoscaling.minReplicas) -}}
    {{- $messages = append $messages "transcriber.autoscaling.maxReplicas must be >= transcriber.autoscaling.minReplicas" -}}
  {{- end -}}
  {{- if and .Values.keda.enabled .Values.kafka.saslMechanism (not (and .Values.kafka.existingSecret .Values.kafka.existingSecretUsernameKey)) -}}
    {{- $messages = append $messages "keda.enabled with Kafka SASL: KEDA reads the user name and password from a Secret; set kafka.existingSecret and kafka.existingSecretUsernameKey" -}}
  {{- end -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
  {{- $messages = append $messages "metrics.serviceMonitor.enabled needs metrics.enabled=true (the pods must expose the metrics port)" -}}
{{- end -}}
{{- if $messages -}}
{{- fail (printf "\n\nVALUES VALIDATION:\n  - %s" (join "\n  - " $messages)) -}}
{{- end -}}
{{- end -}}
