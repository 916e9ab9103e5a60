ALTER TABLE `datasets` ADD `reference_upload` text;--> statement-breakpoint
ALTER TABLE `datasets` ADD `human_upload` text;--> statement-breakpoint
ALTER TABLE `datasets` ADD `min_human_share` real;--> statement-breakpoint
ALTER TABLE `datasets` ADD `release_rejected` integer DEFAULT false NOT NULL;