// QR codes as SVG (no inline styles, so the page's CSP holds), drawn from lean-qr's modules.
import { correction, generate } from '../vendor/lean-qr-2.7.4.js';

const SVG = 'http://www.w3.org/2000/svg';
const QUIET = 4; // modules of white border the standard asks for

export function qrCode(text, label) {
  const code = generate(String(text), { minCorrectionLevel: correction.M });
  const size = code.size + 2 * QUIET;
  let path = '';
  for (let y = 0; y < code.size; y += 1) {
    for (let x = 0; x < code.size; x += 1) {
      if (code.get(x, y)) path += `M${x + QUIET} ${y + QUIET}h1v1h-1z`;
    }
  }
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('class', 'qr');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('shape-rendering', 'crispEdges');
  const background = document.createElementNS(SVG, 'rect');
  background.setAttribute('width', String(size));
  background.setAttribute('height', String(size));
  background.setAttribute('fill', '#fff');
  const modules = document.createElementNS(SVG, 'path');
  modules.setAttribute('d', path);
  modules.setAttribute('fill', '#000');
  svg.append(background, modules);
  return svg;
}
