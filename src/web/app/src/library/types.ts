/** The audio library as GET /api/audio and GET /api/audio/:id answer it (OpenAPI "Audio", "Rendition"). */
export interface AudioItem {
  id: string;
  name: string;
  mime: string;
  container: string | null;
  codec: string | null;
  durationMs: number | null;
  bitrate: number | null;
  sampleRate: number | null;
  channels: number | null;
  size: number;
  createdAt: string;
  source: string;
}

export interface Rendition {
  codec: string;
  mime: string;
  size: number;
  bitrate: number;
  durationMs: number;
  createdAt: string;
}

export interface AudioDetail extends AudioItem {
  renditions: Rendition[];
  renditionsPending: boolean;
}
