// Federation conference control: placeholder until the live stream (/ws/live) exists.
const root = document.getElementById("conf-root");
document.getElementById("conf-title").textContent = `${root.dataset.number}`;
