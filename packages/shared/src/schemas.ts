/** JSON Schemas both apps use in route declarations (and so in their generated OpenAPI). */
export const errorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'stable machine-readable code' },
    message: { type: 'string', description: 'text for a person' },
  },
  additionalProperties: false,
} as const;
