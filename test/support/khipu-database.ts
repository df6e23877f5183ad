/**
 * The Khipu Cloud API's database at its Alembic head (read from its source, 2025-12-27; see
 * shared/facts/khipu-interop.md), as far as this service meets it. Where it differs from the
 * deployment guide's Step 4 and from what our own migrations make:
 * - `json`, not `jsonb`: tenants.settings, projects.settings, audio_cache.voice_settings;
 * - audio_cache.hit_count NOT NULL with no default; its expiry and access indexes renamed
 *   (idx_audio_cache_*), two more indexes, and a foreign key to tenants;
 * - NOT NULL columns without defaults: tenants.plan, users.role, users.hashed_password,
 *   projects.language, projects.status; ids have no server default (SQLAlchemy makes them);
 * - the table is shared: the API keeps every book's narration in audio_cache too, pointed at by
 *   audio_segment_metadata.raw_audio_cache_key (no foreign key).
 * A test database in this shape is migrated by `applyMigrations` (baselined), like a real one.
 */
export const KHIPU_HEAD_SCHEMA = `
  CREATE TABLE alembic_version (
    version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
  INSERT INTO alembic_version (version_num) VALUES ('khipu_head');

  CREATE TABLE tenants (
    id uuid NOT NULL, name varchar(255) NOT NULL, subdomain varchar(100) NOT NULL,
    plan varchar(50) NOT NULL, settings json, is_active boolean,
    created_at timestamptz DEFAULT now(), updated_at timestamptz,
    CONSTRAINT tenants_pkey PRIMARY KEY (id));
  CREATE UNIQUE INDEX ix_tenants_subdomain ON tenants (subdomain);

  CREATE TABLE users (
    id uuid NOT NULL, tenant_id uuid NOT NULL, email varchar(255) NOT NULL,
    hashed_password varchar(255) NOT NULL, full_name varchar(255), role varchar(50) NOT NULL,
    is_active boolean, created_at timestamptz DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE);
  CREATE UNIQUE INDEX ix_users_email ON users (email);

  CREATE TABLE projects (
    id uuid NOT NULL, tenant_id uuid NOT NULL, owner_id uuid NOT NULL, title varchar(500) NOT NULL,
    language varchar(10) NOT NULL, status varchar(50) NOT NULL, settings json,
    created_at timestamptz DEFAULT now(), updated_at timestamptz,
    CONSTRAINT projects_pkey PRIMARY KEY (id),
    CONSTRAINT projects_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT projects_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id));

  CREATE TABLE audio_cache (
    id uuid NOT NULL DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL, cache_key varchar(255) NOT NULL,
    text text NOT NULL, ssml text, voice_id varchar(255) NOT NULL, voice_settings json,
    audio_blob_path text NOT NULL, audio_url text, audio_duration_seconds double precision,
    audio_file_size_bytes bigint, hit_count integer NOT NULL,
    last_accessed_at timestamptz NOT NULL DEFAULT now(), created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    CONSTRAINT audio_cache_pkey PRIMARY KEY (id),
    CONSTRAINT audio_cache_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE);
  CREATE UNIQUE INDEX ix_audio_cache_cache_key ON audio_cache (cache_key);
  CREATE INDEX ix_audio_cache_tenant_id ON audio_cache (tenant_id);
  CREATE INDEX idx_audio_cache_expires ON audio_cache (expires_at);
  CREATE INDEX idx_audio_cache_last_accessed ON audio_cache (last_accessed_at);
  CREATE INDEX idx_audio_cache_key ON audio_cache (cache_key);
  CREATE INDEX idx_audio_cache_tenant ON audio_cache (tenant_id);

  CREATE TABLE audio_segment_metadata (
    id uuid NOT NULL, project_id uuid NOT NULL, chapter_id varchar(255) NOT NULL, segment_id varchar(255) NOT NULL,
    raw_audio_cache_key varchar(512), processing_chain json, created_at timestamptz DEFAULT now(),
    CONSTRAINT audio_segment_metadata_pkey PRIMARY KEY (id),
    CONSTRAINT audio_segment_metadata_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE);
`;

/** The two database shapes the service runs on; tests that touch the data run on both. */
export type DatabaseShape = 'ours' | 'khipu';
export const DATABASE_SHAPES: readonly DatabaseShape[] = ['ours', 'khipu'];
