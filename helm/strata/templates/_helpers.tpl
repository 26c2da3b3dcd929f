{{/* Names, labels and the pod parts every component shares. */}}

{{- define "strata.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "strata.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "api") */}}
{{- define "strata.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "strata.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "strata.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "strata.secretName" -}}
{{- default (printf "%s-secrets" (include "strata.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{- define "strata.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{- define "strata.kubeapiUrl" -}}
{{- default (printf "https://%s-kubeapi:%v" (include "strata.fullname" .) .Values.kubeapi.port) .Values.kubeapi.url -}}
{{- end -}}

{{/*
A component's Deployment: (dict "root" $ "component" NAME "replicas" N "args" LIST "env" MAP "ports" LIST
"probe" (dict "port" NAME "scheme" HTTP|HTTPS "liveness" PATH "readiness" PATH) "resources" MAP "recreate" BOOL)
*/}}
{{- define "strata.deployment" -}}
{{- $root := .root -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "strata.fullname" $root }}-{{ .component }}
  labels:
    {{- include "strata.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: {{ .replicas }}
  revisionHistoryLimit: 3
  {{- if .recreate }}
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "strata.selector" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "strata.selector" . | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "strata.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "strata.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          envFrom:
            - configMapRef:
                name: {{ include "strata.fullname" $root }}-config
            - secretRef:
                name: {{ include "strata.secretName" $root }}
          {{- with .env }}
          env:
            {{- range $name, $value := . }}
            - name: {{ $name }}
              value: {{ $value | quote }}
            {{- end }}
          {{- end }}
          {{- with .ports }}
          ports:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .probe }}
          livenessProbe:
            httpGet: {path: {{ .liveness }}, port: {{ .port }}, scheme: {{ default "HTTP" .scheme }}}
            initialDelaySeconds: 10
            periodSeconds: 20
            timeoutSeconds: 5
            failureThreshold: 3
          readinessProbe:
            httpGet: {path: {{ .readiness }}, port: {{ .port }}, scheme: {{ default "HTTP" .scheme }}}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          {{- end }}
          resources:
            {{- toYaml .resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - {name: state, mountPath: /var/lib/strata}
            - {name: tmp, mountPath: /tmp}
      volumes:
        - {name: state, emptyDir: {}}
        - {name: tmp, emptyDir: {}}
      {{- with $root.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* A component's PodDisruptionBudget: (dict "root" $ "component" NAME "pdb" MAP) */}}
{{- define "strata.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "strata.fullname" .root }}-{{ .component }}
  labels:
    {{- include "strata.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- toYaml .pdb | nindent 2 }}
  selector:
    matchLabels:
      {{- include "strata.selector" . | nindent 6 }}
{{- end -}}
