// Swagger UI on /openapi.json; a call it makes carries the console's CSRF token (the sign-in cookie goes along).
const csrf = document.querySelector('meta[name="strata-csrf"]').content;
const root = document.getElementById("swagger");
window.SwaggerUIBundle({
  url: root.dataset.spec,
  domNode: root,
  deepLinking: true,
  requestInterceptor: (request) => {
    if (csrf) request.headers["X-CSRF-Token"] = csrf;
    return request;
  },
});
