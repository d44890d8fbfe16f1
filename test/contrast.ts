// WCAG contrast of text as a browser rendered it: each element's computed text colour over the colour
// its background shows (its own and its ancestors' backgrounds composited, transparent ones included).
// Shared by the browser suite (test/webview.test.ts) and the code-server suite (test/ide.test.ts).

/** WCAG AA for normal text. */
export const WCAG_AA = 4.5;

export interface ContrastReading {
  /** The element: its tag and classes. */
  element: string;
  /** Its own text, cut to 40 characters. */
  text: string;
  ratio: number;
  /** As computed: `rgb(…)`/`rgba(…)`. */
  color: string;
  /** The background it shows, composited, as `rgb(r, g, b)`. */
  background: string;
}

/**
 * Runs in the page. `targets`: selectors whose first match is read, or "all": every rendered element
 * with text of its own (a disabled control aside: WCAG exempts inactive components).
 */
function readContrast(targets: string[] | "all"): ContrastReading[] {
  type Rgba = { r: number; g: number; b: number; a: number };
  const rgba = (css: string): Rgba => {
    const [r, g, b, a = 1] = (css.match(/[\d.]+/g) ?? ["0", "0", "0", "0"]).map(Number);
    return { r, g, b, a };
  };
  const over = (top: Rgba, bottom: Rgba): Rgba =>
    ({ r: top.r * top.a + bottom.r * (1 - top.a), g: top.g * top.a + bottom.g * (1 - top.a), b: top.b * top.a + bottom.b * (1 - top.a), a: 1 });
  /** The element's background as shown: the nearest opaque one up the tree, with the translucent ones under the element laid over it. */
  const shownBackground = (element: Element): Rgba => {
    const layers: Rgba[] = [];
    let base: Rgba = { r: 255, g: 255, b: 255, a: 1 };
    for (let e: Element | null = element; e; e = e.parentElement) {
      const color = rgba(getComputedStyle(e).backgroundColor);
      if (color.a >= 1) { base = color; break; }
      if (color.a > 0) layers.push(color);
    }
    return layers.reduceRight((shown, layer) => over(layer, shown), base);
  };
  const luminance = ({ r, g, b }: Rgba) => {
    const linear = (c: number) => { const s = c / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const read = (element: Element): ContrastReading => {
    const background = shownBackground(element);
    const color = getComputedStyle(element).color;
    const [l1, l2] = [luminance(over(rgba(color), background)), luminance(background)].sort((x, y) => y - x);
    const ownText = Array.from(element.childNodes).filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join("").trim();
    return {
      element: [element.tagName.toLowerCase(), ...Array.from(element.classList)].join("."), text: ownText.slice(0, 40),
      ratio: (l1 + 0.05) / (l2 + 0.05), color,
      background: `rgb(${[background.r, background.g, background.b].map(Math.round).join(", ")})`,
    };
  };
  if (targets !== "all") return targets.map((selector) => document.querySelector(selector)).filter((e): e is Element => e !== null).map(read);
  const shown = (element: Element) => {
    const style = getComputedStyle(element);
    return element.getClientRects().length > 0 && style.visibility !== "hidden" && Number(style.opacity) > 0 && !element.closest(":disabled, [aria-disabled='true']");
  };
  const hasOwnText = (element: Element) => Array.from(element.childNodes).some((n) => n.nodeType === Node.TEXT_NODE && (n.textContent ?? "").trim() !== "");
  return Array.from(document.body.querySelectorAll("*")).filter((e) => hasOwnText(e) && shown(e)).map(read);
}

/**
 * The expression that reads contrast in a page (for `page.evaluate` / `frame.evaluate`): the function's
 * source with the `__name` helper that tsx's compiled functions call, which pages do not have.
 */
export function contrastScript(targets: string[] | "all"): string {
  return `(() => { const __name = (f) => f; return (${readContrast.toString()})(${JSON.stringify(targets)}); })()`;
}

/** The readings below WCAG AA, one line each. */
export function belowAA(readings: ContrastReading[], where: string): string[] {
  return readings.filter((r) => r.ratio < WCAG_AA)
    .map((r) => `${where}: ${r.element} "${r.text}" ${r.ratio.toFixed(2)}:1 (${r.color} on ${r.background})`);
}
