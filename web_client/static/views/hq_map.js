// The HQ map: Leaflet (vendored in static/vendor/leaflet/, loaded the first time the
// board is opened), over a base layer that needs no internet: a coordinate grid, the
// city's boundary and landmarks (the GeoJSON an admin uploaded in the console), and
// tiles only when the node was given the city's own GIS server (CHAT_MAP_TILE_URL).
// Markers are the reports' positions, with their accuracy as a circle.

import { t } from "../i18n.js";

const LEAFLET = "/static/vendor/leaflet/";
const DEFAULT_VIEW = { center: [35.6812, 139.7671], zoom: 12 };
const SEVERITY_COLOURS = { 1: "#1f6feb", 2: "#b35900", 3: "#c62828" };

let loading = null;

/** Load Leaflet's stylesheet and script once (same origin: the CSP allows both). */
function loadLeaflet() {
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const css = document.createElement("link");
      css.rel = "stylesheet";
      css.href = `${LEAFLET}leaflet.css`;
      document.head.append(css);
      const script = document.createElement("script");
      script.src = `${LEAFLET}leaflet.js`;
      script.onload = () => resolve(window.L);
      script.onerror = () => { loading = null; reject(new Error("leaflet")); };
      document.head.append(script);
    });
  }
  return loading;
}

/** A grid step (degrees) that draws some ten lines across the view. */
function gridStep(span) {
  for (const step of [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]) {
    if (span / step <= 12) return step;
  }
  return 20;
}

function drawGrid(L, map, layer) {
  layer.clearLayers();
  const b = map.getBounds();
  const step = gridStep(Math.max(b.getEast() - b.getWest(), b.getNorth() - b.getSouth()));
  const style = { color: "#8a94a6", weight: 1, opacity: 0.6, interactive: false };
  for (let lon = Math.ceil(b.getWest() / step) * step; lon <= b.getEast(); lon += step) {
    layer.addLayer(L.polyline([[b.getSouth(), lon], [b.getNorth(), lon]], style));
  }
  for (let lat = Math.ceil(b.getSouth() / step) * step; lat <= b.getNorth(); lat += step) {
    layer.addLayer(L.polyline([[lat, b.getWest()], [lat, b.getEast()]], style));
  }
}

function label(text) {
  const span = document.createElement("span");
  span.textContent = text;          // never HTML: a note or a place name stays text
  return span;
}

/** The map in `container`; returns {show(markers)} once Leaflet and the layer are in. */
export async function createMap(container, layer) {
  const L = await loadLeaflet();
  const map = L.map(container, { attributionControl: false, zoomControl: true,
                                 center: DEFAULT_VIEW.center, zoom: DEFAULT_VIEW.zoom });
  if (layer.tile_url) L.tileLayer(layer.tile_url, { maxZoom: 19 }).addTo(map);
  const grid = L.layerGroup().addTo(map);
  let boundary = null;
  if (layer.boundary) {
    boundary = L.geoJSON(layer.boundary, {
      style: () => ({ color: "#37474f", weight: 2, fillOpacity: 0.05 }),
      pointToLayer: (feature, where) => L.circleMarker(where, { radius: 4, color: "#37474f" }),
      onEachFeature: (feature, shape) => {
        const name = feature.properties && (feature.properties.name || feature.properties.名称);
        if (name) shape.bindTooltip(label(String(name)));
      },
    }).addTo(map);
    const bounds = boundary.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { animate: false });
  }
  const reports = L.layerGroup().addTo(map);
  map.on("moveend", () => drawGrid(L, map, grid));
  drawGrid(L, map, grid);
  let fitted = Boolean(boundary);
  return {
    map,
    show(markers) {
      reports.clearLayers();
      for (const m of markers) {
        const colour = SEVERITY_COLOURS[m.report.severity] || "#555";
        if (m.accuracy_m) {
          reports.addLayer(L.circle([m.lat, m.lon], { radius: m.accuracy_m, color: colour,
                                                      weight: 1, fillOpacity: 0.1, interactive: false }));
        }
        const dot = L.circleMarker([m.lat, m.lon], { radius: 9, color: colour, fillOpacity: 0.8,
                                                      className: `report-marker report-${m.report.message_id}` });
        dot.bindTooltip(label(`${t(`report.cat.${m.report.category}`)}・${t(`report.sev.${m.report.severity}`)} ${m.report.note || ""}`));
        reports.addLayer(dot);
      }
      if (!fitted && markers.length) {
        map.fitBounds(L.latLngBounds(markers.map((m) => [m.lat, m.lon])), { maxZoom: 16, animate: false });
        fitted = true;
      }
    },
    resize() { map.invalidateSize(); },
  };
}
