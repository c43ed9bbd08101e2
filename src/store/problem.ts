// What `check` reports: one problem per finding, with a stable `kind`.

export interface StoreProblem {
  /**
   * blob-corrupt | blob-stray | blob-missing | blob-unreadable | manifest-invalid |
   * config-invalid | index-corrupt | layer-missing | layer-corrupt | layer-no-record |
   * layer-record-invalid | layer-record-orphan | layer-stray | layer-damaged
   */
  readonly kind: string;
  /** The file or directory concerned. */
  readonly path: string;
  readonly message: string;
}
