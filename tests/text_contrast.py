"""The contrast of each piece of text in JupyterLab's outputs, measured where the reader sees it:
JavaScript for Playwright's `page.evaluate` (tests/test_browser.py)."""

# Every visible run of text in the outputs, with its WCAG 2.x contrast against what is painted
# under it: for HTML, the nearest opaque background up the tree (translucent ones composited over
# it); for SVG text, the shape under its middle, else the background of the SVG's container. An
# SVG shown as an <img> (Mermaid's drawing, the diagram in a step card) is inlined beside the image
# for the measurement, then removed. Text in a closed <details> is not seen, so not measured.
TEXT_CONTRAST = r"""() => {
  const parse = c => { const m = c && c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
  const channel = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const luminance = c => 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2]);
  const ratio = (a, b) => { const [l, d] = [luminance(a), luminance(b)].sort((x, y) => y - x); return (l + 0.05) / (d + 0.05); };
  const backgroundOf = element => {
    const layers = [];
    for (let e = element; e && e.nodeType === 1; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg && bg[3] > 0) { layers.push(bg); if (bg[3] >= 1) break; }
    }
    return layers.reduceRight((under, layer) => over(layer, under), [255, 255, 255, 1]);
  };
  const underSvgText = element => {
    element.scrollIntoView({block: 'center'});
    const r = element.getBoundingClientRect();
    for (const hit of document.elementsFromPoint(r.left + r.width / 2, r.top + r.height / 2)) {
      if (hit === element || hit.closest('text')) continue;
      if (hit instanceof SVGGraphicsElement && !(hit instanceof SVGSVGElement) && !(hit instanceof SVGGElement)) {
        const style = getComputedStyle(hit), fill = parse(style.fill);
        const alpha = fill ? fill[3] * parseFloat(style.fillOpacity) * parseFloat(style.opacity) : 0;
        if (alpha > 0) return over([fill[0], fill[1], fill[2], alpha], backgroundOf(hit.ownerSVGElement.parentElement));
        continue;
      }
      return backgroundOf(hit);
    }
    return backgroundOf(element.ownerSVGElement.parentElement);
  };
  const inlined = [...document.querySelectorAll('.jp-OutputArea-output img[src^="data:image/svg+xml"]')].map(img => {
    const [head, data] = img.src.split(',', 2);
    const text = head.endsWith(';base64')
      ? new TextDecoder().decode(Uint8Array.from(atob(data), c => c.charCodeAt(0))) : decodeURIComponent(data);
    const holder = document.createElement('div');
    holder.className = 'contrast-inlined';
    holder.innerHTML = text.slice(text.indexOf('<svg'));
    img.after(holder);
    return holder;
  });
  const runs = [];
  for (const output of document.querySelectorAll('.jp-OutputArea-output')) {
    const walker = document.createTreeWalker(output, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const element = node.parentElement, box = element && element.getBoundingClientRect();
      if (!node.textContent.trim() || !box || !box.width || !box.height || ['STYLE', 'TITLE'].includes(element.tagName)) continue;
      if (element.closest('details:not([open])') && !element.closest('summary')) continue;
      const svg = !!element.closest('text');
      const background = svg ? underSvgText(element) : backgroundOf(element);
      const colour = over(parse(getComputedStyle(element)[svg ? 'fill' : 'color']) || [0, 0, 0, 0], background);
      runs.push({ratio: ratio(colour, background), kind: svg ? (element.closest('.contrast-inlined') ? 'svg-img' : 'svg') : 'html',
                 text: node.textContent.trim().slice(0, 60), colour: colour.slice(0, 3).map(Math.round).join(','),
                 background: background.slice(0, 3).map(Math.round).join(',')});
    }
  }
  inlined.forEach(holder => holder.remove());
  return runs;
}"""
