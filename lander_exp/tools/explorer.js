// The policy explorer's page script (lander_exp/tools/explorer.py writes it inline into the page).
"use strict";
const DATA = JSON.parse(document.getElementById('explorer-data').textContent);
const NET = DATA.net, VARS = DATA.vars, REF = DATA.reference;
const state = REF.slice();
let sweepVar = 2;  // the curves follow the last moved variable; vx first, as in the write-up

function dense(layers, x) {  // Linear/ReLU stack, as torch's nn.Sequential of the checkpoint
  for (let l = 0; l < layers.length; l++) {
    const {w, b} = layers[l], y = new Array(b.length);
    for (let j = 0; j < b.length; j++) {
      let s = b[j];
      const row = w[j];
      for (let i = 0; i < x.length; i++) s += row[i] * x[i];
      y[j] = l < layers.length - 1 ? Math.max(s, 0) : s;
    }
    x = y;
  }
  return x;
}
function observe(s) {  // the run's env.obs_scaling, in float32 like training
  const k = NET.obs_scale;
  return s.map((v, i) => Math.fround(NET.scaling === 'divide' ? Math.fround(v) / k[i]
                                   : NET.scaling === 'multiply' ? Math.fround(v) * k[i] : v));
}
function evaluate(s) {
  const obs = observe(s), out = dense(NET.actor, obs), value = dense(NET.critic, obs)[0];
  if (NET.kind === 'discrete') {
    const m = Math.max(...out), e = out.map(v => Math.exp(v - m)), z = e.reduce((a, b) => a + b, 0);
    return {value, probs: e.map(v => v / z)};
  }
  const std = NET.log_std.map(Math.exp);
  return {value, mean: out, std, throttle: out.map(Math.tanh),
          low: out.map((m, i) => Math.tanh(m - std[i])), high: out.map((m, i) => Math.tanh(m + std[i]))};
}
const fmt = (v, d) => (v >= 0 ? '' : '\u2212') + Math.abs(v).toFixed(d);

// ---- sliders ----
const sliders = document.getElementById('sliders');
VARS.forEach((v, i) => {
  const row = document.createElement('div');
  row.className = 'var'; row.id = 'var-' + v.name;
  if (v.leg) {
    row.innerHTML = `<label for="in-${v.name}">${v.name}</label><input type="checkbox" id="in-${v.name}"><output></output>`;
  } else {
    row.innerHTML = `<label for="in-${v.name}">${v.name}</label>` +
      `<input type="range" id="in-${v.name}" min="${v.lo}" max="${v.hi}" step="${v.step}"><output></output>`;
  }
  row.insertAdjacentHTML('beforeend', `<div class="what">${v.what} [${v.lo}, ${v.hi}]</div>`);
  sliders.appendChild(row);
  const input = row.querySelector('input');
  input.addEventListener('input', () => {
    state[i] = v.leg ? (input.checked ? 1 : 0) : parseFloat(input.value);
    if (!v.leg) sweepVar = i;
    update();
  });
});
function syncInputs() {
  VARS.forEach((v, i) => {
    const input = document.getElementById('in-' + v.name);
    if (v.leg) input.checked = state[i] >= 0.5; else input.value = state[i];
    const row = document.getElementById('var-' + v.name);
    row.querySelector('output').textContent = v.leg ? (state[i] >= 0.5 ? 'touching' : 'in the air') : fmt(state[i], 2);
    row.classList.toggle('moved', state[i] !== REF[i]);
  });
}
document.getElementById('reset').addEventListener('click', () => { REF.forEach((v, i) => state[i] = v); update(); });

// ---- the policy's outputs ----
function policyHtml(r) {
  if (NET.kind === 'discrete') {
    document.getElementById('policy-title').textContent = 'Action probabilities';
    return NET.actions.map((a, k) => `<div class="bar" id="action-${k}"><span>${k}: ${a}</span>` +
      `<div class="track"><div class="fill" style="width:${(100 * r.probs[k]).toFixed(2)}%"></div></div>` +
      `<span class="num prob" data-value="${r.probs[k]}">${r.probs[k].toFixed(3)}</span></div>`).join('');
  }
  document.getElementById('policy-title').textContent = 'Throttles: tanh(mean), band tanh(mean \u00b1 std)';
  const pos = v => (50 + 50 * v).toFixed(2) + '%';
  return NET.actions.map((a, k) => `<div class="bar" id="action-${k}"><span>${a}</span><div class="track">` +
    `<div class="band" style="left:${pos(r.low[k])};width:calc(${pos(r.high[k])} - ${pos(r.low[k])})"></div>` +
    `<div class="tick" style="left:50%"></div>` + (k === 1 ? '<div class="tick" style="left:25%"></div><div class="tick" style="left:75%"></div>' : '') +
    `<div class="mark" style="left:${pos(r.throttle[k])}"></div></div>` +
    `<span class="num throttle" data-value="${r.throttle[k]}" data-mean="${r.mean[k]}" data-std="${r.std[k]}">${fmt(r.throttle[k], 3)}</span></div>` +
    `<div class="note" style="margin:-3px 0 6px 128px">mean ${fmt(r.mean[k], 3)}, std ${r.std[k].toFixed(3)}` +
    (k === 0 ? ' (the main engine fires above 0)' : ' (left engine below \u22120.5, right above 0.5)') + '</div>').join('');
}

// ---- the lander (LunarLander's viewport: 600 x 400 px, the pad 100 px up between x = -0.2 and 0.2;
// one unit of x is 300 px, one of y 200 px; the lander drawn 1.5 times its size, its feet on the pad at y = 0) ----
const PAD_Y = 100, LEG_DOWN = 18, SIZE = 1.5, REACH = SIZE * (8 + LEG_DOWN + 6);  // centre to feet, px
function sceneSvg(s, r) {
  const px = 300 + 300 * s[0], py = 400 - (PAD_Y + REACH + 200 * s[1]);
  const deg = -s[4] * 180 / Math.PI;  // + angle is anticlockwise; SVG rotates clockwise
  const fire = NET.kind === 'discrete'
    ? {main: r.probs[2], left: r.probs[1], right: r.probs[3]}
    : {main: r.throttle[0] > 0 ? 0.5 + 0.5 * r.throttle[0] : 0,
       left: r.throttle[1] < -0.5 ? 1 : 0, right: r.throttle[1] > 0.5 ? 1 : 0};
  const leg = (side, on) => `<line x1="${side * 10}" y1="8" x2="${side * 21}" y2="${8 + LEG_DOWN + 6}" stroke="${on ? '#2a9d3a' : '#777'}" stroke-width="${on ? 4 : 3}"/>` +
    `<line x1="${side * 17}" y1="${8 + LEG_DOWN + 6}" x2="${side * 25}" y2="${8 + LEG_DOWN + 6}" stroke="${on ? '#2a9d3a' : '#777'}" stroke-width="3"/>`;
  const vx = 60 * s[2], vy = -60 * s[3];
  return `<rect width="600" height="400" fill="#0b1026"/>` +
    `<polygon points="0,400 0,${400 - PAD_Y} 600,${400 - PAD_Y} 600,400" fill="#ccc"/>` +
    `<line x1="240" y1="${400 - PAD_Y}" x2="360" y2="${400 - PAD_Y}" stroke="#f4d03f" stroke-width="4"/>` +
    `<line x1="240" y1="${400 - PAD_Y}" x2="240" y2="${370 - PAD_Y}" stroke="#fff"/><polygon points="240,${370 - PAD_Y} 252,${374 - PAD_Y} 240,${378 - PAD_Y}" fill="#f4d03f"/>` +
    `<line x1="360" y1="${400 - PAD_Y}" x2="360" y2="${370 - PAD_Y}" stroke="#fff"/><polygon points="360,${370 - PAD_Y} 372,${374 - PAD_Y} 360,${378 - PAD_Y}" fill="#f4d03f"/>` +
    `<g id="lander" data-x="${px.toFixed(3)}" data-y="${py.toFixed(3)}" data-deg="${deg.toFixed(3)}" transform="translate(${px.toFixed(2)} ${py.toFixed(2)}) rotate(${deg.toFixed(3)}) scale(${SIZE})">` +
      `<polygon points="0,${12 + 30 * fire.main} -6,12 6,12" fill="#ff8c1a" opacity="${Math.min(1, fire.main).toFixed(3)}"/>` +
      `<polygon points="-17,-4 ${-17 - 16 * fire.left},-1 -17,2" fill="#ff8c1a" opacity="${Math.min(1, fire.left).toFixed(3)}"/>` +
      `<polygon points="17,-4 ${17 + 16 * fire.right},-1 17,2" fill="#ff8c1a" opacity="${Math.min(1, fire.right).toFixed(3)}"/>` +
      leg(-1, s[6] >= 0.5) + leg(1, s[7] >= 0.5) +
      `<polygon points="-14,-17 -17,0 -17,10 17,10 17,0 14,-17" fill="#8064a2" stroke="#cfc3e6" stroke-width="1.5"/>` +
    `</g>` +
    `<line x1="${px}" y1="${py}" x2="${px + vx}" y2="${py + vy}" stroke="#5dade2" stroke-width="2.5" marker-end="url(#arrow)"/>` +
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">` +
    `<path d="M0,0 L10,5 L0,10 z" fill="#5dade2"/></marker></defs>` +
    `<text x="10" y="20" fill="#ddd" font-size="13">x ${fmt(s[0], 2)}  y ${fmt(s[1], 2)}  angle ${fmt(s[4], 2)} rad  \u03c9 ${fmt(s[5], 2)}</text>`;
}

// ---- the curves along the last moved variable ----
const COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756'];
function sweepSvg() {
  const v = VARS[sweepVar], n = 101, xs = [], rows = [], values = [];
  for (let k = 0; k < n; k++) {
    const s = state.slice(); s[sweepVar] = v.lo + (v.hi - v.lo) * k / (n - 1);
    const r = evaluate(s); xs.push(s[sweepVar]); values.push(r.value);
    rows.push(NET.kind === 'discrete' ? r.probs : r.throttle);
  }
  document.getElementById('sweep-title').textContent =
    `As ${v.name} sweeps its range (the other variables as set): ` +
    (NET.kind === 'discrete' ? 'action probabilities' : 'throttles') + ' and the critic\u2019s value';
  const W = 360, H = 200, L = 40, T = 20;
  const X = x => L + W * (x - v.lo) / (v.hi - v.lo);
  const lo = NET.kind === 'discrete' ? 0 : -1, Y = y => T + H * (1 - (y - lo) / (1 - lo));
  let out = `<rect x="${L}" y="${T}" width="${W}" height="${H}" fill="#fafafa" stroke="#ddd"/>`;
  [lo, (lo + 1) / 2, 1].forEach(t => out += `<text x="${L - 4}" y="${Y(t) + 4}" font-size="11" text-anchor="end">${t}</text>`);
  NET.actions.forEach((a, k) => {
    out += `<polyline fill="none" stroke="${COLORS[k]}" stroke-width="2" points="${xs.map((x, i) => X(x).toFixed(1) + ',' + Y(rows[i][k]).toFixed(1)).join(' ')}"/>`;
    out += `<text x="${L + 6 + 110 * k}" y="${T + H + 34}" font-size="11" fill="${COLORS[k]}">\u25a0 ${a}</text>`;
  });
  out += `<line x1="${X(state[sweepVar])}" y1="${T}" x2="${X(state[sweepVar])}" y2="${T + H}" stroke="#c0392b" stroke-dasharray="4 3"/>`;
  out += `<text x="${L}" y="${T + H + 16}" font-size="11">${v.lo}</text><text x="${L + W}" y="${T + H + 16}" font-size="11" text-anchor="end">${v.hi}</text>`;
  out += `<text x="${L + W / 2}" y="${T + H + 16}" font-size="11" text-anchor="middle">${v.name}</text>`;
  const vmin = Math.min(...values), vmax = Math.max(...values), span = vmax - vmin || 1, L2 = L + W + 70;
  const Y2 = y => T + H * (1 - (y - vmin) / span);
  out += `<rect x="${L2}" y="${T}" width="${W - 110}" height="${H}" fill="#fafafa" stroke="#ddd"/>`;
  out += `<polyline fill="none" stroke="#8e44ad" stroke-width="2" points="${xs.map((x, i) => (L2 + (W - 110) * (x - v.lo) / (v.hi - v.lo)).toFixed(1) + ',' + Y2(values[i]).toFixed(1)).join(' ')}"/>`;
  out += `<text x="${L2 - 4}" y="${T + 4}" font-size="11" text-anchor="end">${vmax.toPrecision(3)}</text><text x="${L2 - 4}" y="${T + H}" font-size="11" text-anchor="end">${vmin.toPrecision(3)}</text>`;
  out += `<text x="${L2 + (W - 110) / 2}" y="${T + H + 16}" font-size="11" text-anchor="middle">V(s) against ${v.name}</text>`;
  out += `<line x1="${L2 + (W - 110) * (state[sweepVar] - v.lo) / (v.hi - v.lo)}" y1="${T}" x2="${L2 + (W - 110) * (state[sweepVar] - v.lo) / (v.hi - v.lo)}" y2="${T + H}" stroke="#c0392b" stroke-dasharray="4 3"/>`;
  return out;
}

function update() {
  syncInputs();
  const r = evaluate(state);
  document.getElementById('policy').innerHTML = policyHtml(r);
  const value = document.getElementById('value');
  value.textContent = fmt(r.value, 3); value.dataset.value = r.value;
  document.getElementById('scene').innerHTML = sceneSvg(state, r);
  document.getElementById('sweep').innerHTML = sweepSvg();
  document.body.dataset.state = JSON.stringify(state);
}
update();
document.body.dataset.ready = '1';
