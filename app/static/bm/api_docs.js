// Start Swagger UI on /api/v4/openapi.json. validatorUrl null: Swagger UI would otherwise
// send the spec URL to validator.swagger.io and show its badge (a request off this site).
(function () {
  var specUrl = document.getElementById("bm-api-docs-script").dataset.specUrl;
  window.ui = SwaggerUIBundle({
    url: specUrl,
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "BaseLayout",
  });
})();
