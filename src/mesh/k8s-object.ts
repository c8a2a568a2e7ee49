/** One Kubernetes object as rendered: plain data, ready for YAML. */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown>;
