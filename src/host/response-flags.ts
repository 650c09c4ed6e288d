// Envoy's response flags: bit values (what response.flags holds) and short names (the access log's).

export const ResponseFlag = {
  FailedLocalHealthCheck: 0x1,
  NoHealthyUpstream: 0x2,
  UpstreamRequestTimeout: 0x4,
  LocalReset: 0x8,
  UpstreamRemoteReset: 0x10,
  UpstreamConnectionFailure: 0x20,
  UpstreamConnectionTermination: 0x40,
  UpstreamOverflow: 0x80,
  NoRouteFound: 0x100,
  DownstreamConnectionTermination: 0x4000,
  UpstreamRetryLimitExceeded: 0x8000,
  DownstreamProtocolError: 0x40000,
  UpstreamProtocolError: 0x800000,
  NoClusterFound: 0x1000000,
} as const;

const SHORT: Array<[number, string]> = [
  [0x1, 'LH'],
  [0x2, 'UH'],
  [0x4, 'UT'],
  [0x8, 'LR'],
  [0x10, 'UR'],
  [0x20, 'UF'],
  [0x40, 'UC'],
  [0x80, 'UO'],
  [0x100, 'NR'],
  [0x4000, 'DC'],
  [0x8000, 'URX'],
  [0x40000, 'DPE'],
  [0x800000, 'UPE'],
  [0x1000000, 'NC'],
];

/** "UF,URX" or "-" as Envoy's %RESPONSE_FLAGS% prints them. */
export function flagsToString(flags: number): string {
  if (!flags) return '-';
  return SHORT.filter(([bit]) => flags & bit)
    .map(([, s]) => s)
    .join(',');
}
