// The server's own URLs: OMERO.web's JSON API and webgateway, plus /viewer-api/ for extras.

export async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: 'application/json' } });
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).message || message; } catch { /* not JSON */ }
    throw new Error(`${response.status} ${message} (${url})`);
  }
  return response.json();
}

const LIMIT = 500; // the JSON API's maxLimit

export const api = {
  projects: () => getJSON(`/api/v0/m/projects/?childCount=true&limit=${LIMIT}`),
  datasets: (projectId) => getJSON(`/api/v0/m/projects/${projectId}/datasets/?childCount=true&limit=${LIMIT}`),
  images: (datasetId) => getJSON(`/api/v0/m/datasets/${datasetId}/images/?limit=${LIMIT}`),
  // images in no dataset and no plate (omero-web ImagesView ?orphaned=true)
  orphans: (limit = LIMIT) => getJSON(`/api/v0/m/images/?orphaned=true&limit=${limit}`),
  search: (name) => getJSON(`/viewer-api/images/?name=${encodeURIComponent(name)}&limit=200`),
  details: (imageId) => getJSON(`/viewer-api/images/${imageId}/`),
  imgData: (imageId) => getJSON(`/webgateway/imgData/${imageId}/`),
};

export const thumbnailUrl = (imageId, size = 160) => `/webgateway/render_thumbnail/${imageId}/${size}/`;
export const viewerUrl = (imageId) => `/view/${imageId}`;
