// Small DOM builders and number-formatting helpers the panel's views share.

export type Child = Node | string | number | undefined | false;

export function el(tag: string, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) {
    if (child === undefined || child === false) continue;
    element.append(typeof child === "number" ? String(child) : child);
  }
  return element;
}

/** A button; a disabled one says why on hover (`disabledReason`, its title). */
export function button(label: string, attributes: Record<string, string>, enabled: boolean, onClick: () => void, disabledReason?: string): HTMLElement {
  const element = el("button", attributes, label) as HTMLButtonElement;
  element.disabled = !enabled;
  if (!enabled && disabledReason) element.title = disabledReason;
  element.addEventListener("click", onClick);
  return element;
}

export const count = (n: number) => n.toLocaleString("en-US");

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
