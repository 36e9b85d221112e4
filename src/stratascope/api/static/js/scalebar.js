// A scale bar from imgData's pixel_size.x (µm): a "nice" length (1, 2 or 5 × 10^n) near 120 px.

const TARGET_PX = 120;

function nice(length) {
  const power = 10 ** Math.floor(Math.log10(length));
  const m = length / power;
  return (m >= 5 ? 5 : m >= 2 ? 2 : 1) * power;
}

export function label(um) {
  if (um >= 1000) return `${Number((um / 1000).toPrecision(3))} mm`;
  if (um < 1) return `${Number((um * 1000).toPrecision(3))} nm`;
  return `${Number(um.toPrecision(3))} µm`;
}

export function attachScaleBar(viewer, element, img) {
  const micronsPerPixel = img.pixel_size && img.pixel_size.x;
  if (!micronsPerPixel) return;
  const bar = element.querySelector('.bar');
  const text = element.querySelector('.label');
  element.hidden = false;
  const update = () => {
    const containerWidth = viewer.viewport.getContainerSize().x;
    const zoom = viewer.viewport.getZoom(true);
    if (!containerWidth || !zoom) return;
    // viewport width 1 = the image's width; zoom z shows 1/z of it across the container
    const umPerScreenPx = (micronsPerPixel * img.size.width) / (zoom * containerWidth);
    const length = nice(TARGET_PX * umPerScreenPx);
    bar.style.width = `${Math.round(length / umPerScreenPx)}px`;
    text.textContent = label(length);
  };
  for (const event of ['open', 'animation', 'resize', 'update-viewport']) viewer.addHandler(event, update);
  update();
}
