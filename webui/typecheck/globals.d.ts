// Names the browser pages use that TypeScript's DOM library does not declare.

interface Window {
  /** hls.js's class, set by webui/static/vendor/hls/hls.min.js once loaded (hlsplayer.js). */
  Hls?: any;
}

interface HTMLMediaElement {
  /** Safari's native HLS: the wall-clock time of the stream's start (EXT-X-PROGRAM-DATE-TIME); not in the DOM standard. */
  getStartDate?(): Date;
}

interface ParentNode {
  /** The pages hold HTML only: a selector that is not a tag name finds an HTMLElement. */
  querySelector<K extends keyof HTMLElementTagNameMap>(selectors: K): HTMLElementTagNameMap[K] | null;
  querySelector<E extends Element = HTMLElement>(selectors: string): E | null;
}
