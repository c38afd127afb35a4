// The checkpoint page's service worker: the page, its stylesheet, its scripts and the format tables are kept in
// the browser's cache, so a checkpoint can even be reloaded while the network is down.  Only
// these few GETs are served from cache, network first; verification requests and the trust list
// always go to the network (the page keeps the signed trust list itself and checks it).
"use strict";
const CACHE = "hc-checkpoint-v4";
const PAGES = ["/checkpoint", "/checkpoint/formats.json", "/static/checkpoint.css", "/static/words.js", "/static/sm2.js", "/static/offline.js", "/static/jsQR.js", "/static/checkpoint.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PAGES)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !PAGES.includes(url.pathname)) return;
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
    }
    return response;
  }).catch(() => caches.match(url.pathname)));
});
