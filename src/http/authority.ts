/**
 * Which service an authority names. One rule for the mesh dispatcher (fetch), the sidecar and
 * ServiceProfile names alike: the name exactly (`reviews`), without its port (`reviews:9080`), or by
 * its first DNS label (`reviews.default.svc.cluster.local`), as a Kubernetes name is written.
 * Service names are compared in lower case.
 */
export function serviceForAuthority(authority: string, isService: (name: string) => boolean): string | undefined {
  const name = authority.toLowerCase();
  if (isService(name)) return name;
  const host = name.startsWith('[') ? name.slice(0, name.indexOf(']') + 1) : name.replace(/:\d+$/, '');
  if (host !== name && isService(host)) return host;
  const label = host.startsWith('[') ? host : host.split('.')[0]!;
  return label !== host && isService(label) ? label : undefined;
}
