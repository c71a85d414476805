"""AUTOMATIC1111-compatible API under /sdapi/v1, so A1111 clients work unchanged.

txt2img and img2img go through the same queue as every other job and wait for it;
the conversions live in genlab.web.a1111. Prompt styles are merged into the prompts
and override_settings checked before the request is built; fields genlab cannot apply
are refused unless neutral (genlab.web.a1111_fields). docs/a1111-compatibility.md
says what happens to every field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from genlab.core.errors import InvalidRequest
from genlab.core.request import check_json_texts
from genlab.web import a1111, jobs, options, queue, styles
from genlab.web.a1111_fields import check_depth, refuse_unapplied
from genlab.web.deps import CurrentUser, SessionDep, StudioDep
from genlab.web.models import FINISHED_STATES
from genlab.web.progress import TERMINAL_EVENTS
from genlab.web.studio import Studio
from genlab.web.uploads import decode_base64, metadata_image

router = APIRouter(prefix="/sdapi/v1", tags=["a1111"])
PARTIAL_WAIT_S = 1.0  # for a cancelled job's event after its state was read
WAIT_POLL_S = 5.0  # re-read the job's state this often while waiting, whatever the hub says


class Txt2ImgRequest(BaseModel):
    # A1111 clients send many fields genlab has no use for (restore_faces, tiling, …);
    # they are accepted and echoed back in `parameters`.
    model_config = ConfigDict(extra="allow")

    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] = Field(default_factory=list)
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    sampler_name: str | None = None
    sampler_index: str | None = None
    scheduler: str | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    width: int | None = None
    height: int | None = None
    batch_size: int = 1
    n_iter: int = 1
    override_settings: dict[str, Any] = Field(default_factory=dict)
    send_images: bool = True
    save_images: bool = False


class Img2ImgRequest(Txt2ImgRequest):
    init_images: list[str] | None = None
    mask: str | None = None
    denoising_strength: float = 0.75
    include_init_images: bool = False
    # Mask options with A1111's API defaults (its StableDiffusionProcessingImg2Img);
    # they apply only with a mask, as in A1111. mask_blur, when set, sets both axes.
    mask_blur: int | None = None
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    inpainting_fill: int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = 0


class GenerationResponse(BaseModel):
    images: list[str] | None = Field(default=None, description="Base64 PNGs with metadata.")
    parameters: dict[str, Any]
    info: str


class PngInfoRequest(BaseModel):
    image: str = Field(description="Base64 image, or a data: URI.")


class PngInfoResponse(BaseModel):
    info: str
    items: dict[str, Any]
    parameters: dict[str, Any]


class ProgressResponse(BaseModel):
    progress: float
    eta_relative: float
    state: dict[str, Any]
    current_image: str | None = None
    textinfo: str | None = None


class SDModelItem(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    title: str
    model_name: str
    hash: str | None
    sha256: str | None
    filename: str
    config: str | None


class SamplerItem(BaseModel):
    name: str
    aliases: list[str]
    options: dict[str, Any]


@router.post("/txt2img")
async def txt2img(body: Txt2ImgRequest, studio: StudioDep, user: CurrentUser) -> GenerationResponse:
    return await _generate(studio, user.id, body, img2img=False)


@router.post("/img2img")
async def img2img(body: Img2ImgRequest, studio: StudioDep, user: CurrentUser) -> GenerationResponse:
    if not body.init_images or len(body.init_images) > 1:
        # A1111 pairs several init images with a batch's images; genlab takes one.
        raise InvalidRequest(
            "init_images", f"{len(body.init_images or [])} images", "img2img takes one image"
        )
    return await _generate(studio, user.id, body, img2img=True)


async def _generate(
    studio: Studio, user_id: int, body: Txt2ImgRequest, *, img2img: bool
) -> GenerationResponse:
    check_depth(body.model_extra or {}, "request")
    check_depth(body.override_settings, "override_settings")
    _refuse_unsupported(body)
    # Prompts, sampler names and the extra fields A1111 clients send (echoed back in
    # `parameters`) must encode; images are base64, checked as uploads.
    check_json_texts(body.model_dump(exclude={"init_images", "mask"}))
    job_id = await run_in_threadpool(_create, studio, user_id, body, img2img)
    studio.hub.wake()
    partial: list[str] = []  # what an interrupted job had made (its cancelled event)
    with studio.hub.subscribe(job_id) as subscription:
        state = await run_in_threadpool(_state, studio, job_id)
        while state not in FINISHED_STATES:
            event = await subscription.get(timeout=WAIT_POLL_S)
            if event is not None and event["event"] not in TERMINAL_EVENTS:
                continue
            if event is not None and event["event"] == "cancelled":
                partial = list(event.get("partial") or [])
            state = await run_in_threadpool(_state, studio, job_id)
        while state == "cancelled" and not partial:
            # The worker marks the job cancelled, then sends the event with the partial
            # images: a poll that saw the state first waits briefly for the event.
            event = await subscription.get(timeout=PARTIAL_WAIT_S)
            if event is None or event["event"] == "cancelled":
                partial = list(event.get("partial") or []) if event else []
                break
    parameters = body.model_dump()
    if isinstance(body, Img2ImgRequest) and not body.include_init_images:
        parameters.update(init_images=None, mask=None)  # as A1111: do not echo the inputs
    return await run_in_threadpool(_answer, studio, job_id, parameters, body.send_images, partial)


def _refuse_unsupported(body: Txt2ImgRequest) -> None:
    """Say so rather than silently ignore what would change the images."""
    if body.subseed_strength:
        raise InvalidRequest("subseed_strength", body.subseed_strength, "variation seeds: use 0")
    extra = body.model_extra or {}
    refuse_unapplied(extra)
    if extra.get("restore_faces"):
        raise InvalidRequest(
            "restore_faces", extra["restore_faces"], "not supported by genlab; leave it false"
        )
    if extra.get("script_name"):
        raise InvalidRequest("script_name", extra["script_name"], "scripts are not supported")


def _create(studio: Studio, user_id: int, body: Txt2ImgRequest, img2img: bool) -> int:
    with studio.sessions() as session:
        # As A1111: styles are merged into the prompts before anything else reads them,
        # and override_settings apply to this request only.
        given = body.model_dump()
        given["prompt"], given["negative_prompt"], applied = styles.apply(
            session, body.prompt, body.negative_prompt, body.styles
        )
        run_options = options.request_options(session, body.override_settings)
    fields, n_iter = a1111.request_fields(given, img2img=img2img)
    clip_skip = run_options[options.CLIP_SKIP_OPTION]
    if "clip_skip" in jobs.REQUEST_FIELDS and "clip_skip" not in fields and clip_skip != 1:
        fields["clip_skip"] = clip_skip  # the option, for requests that set no clip skip
    init_image = mask = None
    limit = studio.settings.max_upload_bytes
    if isinstance(body, Img2ImgRequest):
        assert body.init_images
        data = decode_base64(body.init_images[0], max_bytes=limit, what="init_images[0]")
        init_image = jobs.ImageInput(data=data)
        if body.mask:
            mask = jobs.ImageInput(data=decode_base64(body.mask, max_bytes=limit, what="mask"))
    with studio.sessions() as session:
        job = jobs.create_generation(
            session,
            studio.store,
            studio.settings,
            owner_id=user_id,
            fields=fields,
            n_iter=n_iter,
            init_image=init_image,
            mask=mask,
            # None: the stored option (create_generation reads it).
            image_format=body.override_settings.get(options.FORMAT_OPTION),
            styles=applied,
        )
        return job.id


def _state(studio: Studio, job_id: int) -> str:
    with studio.sessions() as session:
        return queue.get_job(session, job_id).state


def _answer(
    studio: Studio,
    job_id: int,
    parameters: dict[str, Any],
    send_images: bool,
    partial: list[str],
) -> GenerationResponse:
    """The finished job in A1111's shape. An interrupted job answers, as A1111 does,
    with what it had made: finished images and the current step decoded."""
    from genlab.core.metadata import parse_parameters

    with studio.sessions() as session:
        job = queue.get_job(session, job_id)
        if job.state == "failed":
            error = job.error or "the job failed"
            # The client's request could not be run (422) or genlab broke (500).
            status = 500 if error.startswith("internal error") else 422
            raise HTTPException(status_code=status, detail=error)
        images = list(job.images)
        payload = queue.payload(job)
        request = payload.get("request", {})
        model_hash = None
        if images:
            model_hash = parse_parameters(images[0].parameters).params.get("Model hash")
        encoded = [
            a1111.encode_file(studio.store.resolve(image.path).read_bytes()) for image in images
        ]
        info = a1111.info(job, images, request, model_hash, payload.get("styles", []))
        if job.state == "cancelled":
            encoded, info = partial, a1111.interrupted_info(info, partial)
        return GenerationResponse(
            images=encoded if send_images else [], parameters=parameters, info=info
        )


@router.post("/png-info")
def png_info(body: PngInfoRequest, studio: StudioDep) -> PngInfoResponse:
    settings = studio.settings
    data = decode_base64(body.image, max_bytes=settings.max_upload_bytes)
    image = metadata_image(
        data, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_upload_pixels
    )
    return PngInfoResponse(**a1111.png_info(image))


@router.get("/progress")
def progress(studio: StudioDep, skip_current_image: bool = False) -> ProgressResponse:
    live = studio.hub.live()
    cancelling = live is not None and studio.hub.cancel_requested(live.job_id)
    return ProgressResponse(**a1111.progress(live, cancelling, with_image=not skip_current_image))


@router.post("/interrupt")
def interrupt(studio: StudioDep, session: SessionDep) -> dict[str, Any]:
    """Stop the running job at its next step (it ends as cancelled)."""
    queue.cancel_running(session, studio.hub)
    return {}


@router.get("/sd-models")
def sd_models() -> list[SDModelItem]:
    return [SDModelItem(**item) for item in a1111.sd_models()]


@router.post("/refresh-checkpoints")
def refresh_checkpoints() -> dict[str, Any]:
    return {}  # the model list is read fresh on every request


@router.get("/samplers")
def samplers() -> list[SamplerItem]:
    return [SamplerItem(**item) for item in a1111.samplers()]


@router.get("/options")
def get_options(session: SessionDep) -> dict[str, Any]:
    return options.get_options(session)


@router.post("/options")
def set_options(values: Annotated[dict[str, Any], Body()], session: SessionDep) -> None:
    """Set options, all or none (a bad value is a 422 naming it and what is allowed);
    sd_model_checkpoint switches the model jobs use by default, samples_format the
    format images are stored and sent in. Unknown names are stored as given."""
    options.set_options(session, values)
